"""The lifecycle of a QR session. Pure rules: which state may follow which, and what each means for the
channel and for the person looking at the dashboard."""

from __future__ import annotations

NOT_STARTED, PENDING, AUTHENTICATED, READY = "not_started", "pending", "authenticated", "ready"
AUTH_FAILED, DISCONNECTED, LOGGED_OUT = "auth_failed", "disconnected", "logged_out"
STATES = (NOT_STARTED, PENDING, AUTHENTICATED, READY, AUTH_FAILED, DISCONNECTED, LOGGED_OUT)

# Every state may also go back to not_started: the runner stopped the session (lease moved, shutdown).
TRANSITIONS: dict[str, frozenset[str]] = {
    NOT_STARTED: frozenset({PENDING, AUTHENTICATED, DISCONNECTED, AUTH_FAILED, LOGGED_OUT}),
    PENDING: frozenset({AUTHENTICATED, AUTH_FAILED, DISCONNECTED, NOT_STARTED}),
    AUTHENTICATED: frozenset({READY, AUTH_FAILED, DISCONNECTED, LOGGED_OUT, NOT_STARTED}),
    READY: frozenset({DISCONNECTED, LOGGED_OUT, AUTH_FAILED, NOT_STARTED}),
    DISCONNECTED: frozenset({PENDING, AUTHENTICATED, READY, AUTH_FAILED, LOGGED_OUT, NOT_STARTED}),
    AUTH_FAILED: frozenset({PENDING, NOT_STARTED}),
    LOGGED_OUT: frozenset({PENDING, NOT_STARTED}),
}

# The Channel.status a session state shows as in lists and the API.
CHANNEL_STATUS = {
    NOT_STARTED: "connecting",
    PENDING: "connecting",
    AUTHENTICATED: "connecting",
    READY: "connected",
    DISCONNECTED: "disconnected",
    AUTH_FAILED: "error",
    LOGGED_OUT: "error",
}

# What the person should do, shown beside the state.
ADVICE = {
    NOT_STARTED: "Waiting for a session runner to pick this number up.",
    PENDING: "Open WhatsApp on the phone → Linked devices → Link a device, and scan the code.",
    AUTHENTICATED: "Linked. Connecting to WhatsApp…",
    READY: "Connected. Messages flow both ways.",
    DISCONNECTED: "The connection dropped; reconnecting automatically with growing pauses.",
    AUTH_FAILED: (
        "WhatsApp refused the session. If it was a temporary ban, wait until it ends and send fewer, "
        "more personal messages; then press “Link again”."
    ),
    LOGGED_OUT: "The phone unlinked this device (or WhatsApp logged it out). Press “Link again” and scan.",
}


class InvalidTransition(ValueError):
    def __init__(self, from_state: str, to_state: str):
        super().__init__(f"a QR session cannot go from {from_state} to {to_state}")
        self.from_state, self.to_state = from_state, to_state


def transition_check(from_state: str, to_state: str) -> None:
    if to_state not in TRANSITIONS or to_state not in TRANSITIONS.get(from_state, frozenset()):
        raise InvalidTransition(from_state, to_state)
