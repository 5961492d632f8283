"""The session lifecycle: every allowed transition is stored with time and reason and pushed live as
`channel.status`; every forbidden one is refused and changes nothing."""

from __future__ import annotations

import itertools

import pytest
from django_tenants.utils import schema_context

from channels_wa.models import QRSessionTransition
from channels_wa.providers.qr_session import states
from channels_wa.providers.qr_session.services import qr_session_show_code, qr_session_transition
from tests.helpers import capture_realtime_events

ALL_PAIRS = [(a, b) for a, b in itertools.product(states.STATES, states.STATES) if a != b]
ALLOWED = [(a, b) for a, b in ALL_PAIRS if b in states.TRANSITIONS[a]]
FORBIDDEN = [(a, b) for a, b in ALL_PAIRS if b not in states.TRANSITIONS[a]]


def test_the_lifecycle_has_both_kinds_of_moves():
    assert (states.NOT_STARTED, states.PENDING) in ALLOWED
    assert (states.PENDING, states.READY) in FORBIDDEN  # scanning authenticates before ready
    assert (states.LOGGED_OUT, states.READY) in FORBIDDEN  # a logged-out number needs a new scan
    assert (states.AUTH_FAILED, states.AUTHENTICATED) in FORBIDDEN


def _put_in(session, state):
    type(session).objects.filter(pk=session.pk).update(state=state)
    session.refresh_from_db()


@pytest.mark.parametrize(("from_state", "to_state"), ALLOWED)
def test_allowed_transition_is_stored_and_pushed(qr_channel, from_state, to_state):
    with schema_context("alpha"):
        session = qr_channel.qr_session
        _put_in(session, from_state)
        with capture_realtime_events() as sent, pytest.MonkeyPatch.context():
            session = qr_session_transition(session=session, to_state=to_state, reason=f"why {to_state}")
        row = QRSessionTransition.objects.get(session=session)
        assert (row.from_state, row.to_state, row.reason) == (from_state, to_state, f"why {to_state}")
        assert row.occurred_at is not None and session.state_changed_at is not None
        qr_channel.refresh_from_db()
        assert qr_channel.status == states.CHANNEL_STATUS[to_state]
    assert len(sent) == 0  # still inside the test transaction: nothing goes out before commit


@pytest.mark.parametrize(("from_state", "to_state"), FORBIDDEN)
def test_forbidden_transition_is_refused(qr_channel, from_state, to_state):
    with schema_context("alpha"):
        session = qr_channel.qr_session
        _put_in(session, from_state)
        with pytest.raises(states.InvalidTransition):
            qr_session_transition(session=session, to_state=to_state, reason="nope")
        session.refresh_from_db()
        assert session.state == from_state
        assert not QRSessionTransition.objects.filter(session=session).exists()


def test_unknown_state_is_refused(qr_channel):
    with schema_context("alpha"), pytest.raises(states.InvalidTransition):
        qr_session_transition(session=qr_channel.qr_session, to_state="banana")


def test_transitions_are_pushed_as_channel_status_after_commit(committed_db):
    """The realtime event carries the state, the reason, what to do, and the QR code as SVG."""
    from accounts.models import User
    from channels_wa.models import Channel
    from channels_wa.services import channel_create
    from tests.helpers import unique

    with schema_context("alpha"):
        channel = channel_create(provider="qr_session", name="Live", external_id=unique("qr-"))
        try:
            with capture_realtime_events() as sent:
                session = qr_session_show_code(session=channel.qr_session, code="2@abc,def,ghi")
                session = qr_session_transition(
                    session=session, to_state=states.AUTHENTICATED, reason="scanned"
                )
                qr_session_transition(session=session, to_state=states.READY, reason="connected")
            company = [
                p for kind, p, groups in sent if kind == "channel.status" and groups == ["alpha.company"]
            ]
            admins = [
                (p, groups)
                for kind, p, groups in sent
                if kind == "channel.status" and groups != ["alpha.company"]
            ]
            # One event per change: the first QR code comes with the move to pending.
            assert [p["session_state"] for p in company] == ["pending", "authenticated", "ready"]
            assert [p["session_state"] for p, _ in admins] == ["pending", "authenticated", "ready"]
            # The code links a phone to the number: only owners' and admins' own groups get it.
            assert all("qr_svg" not in p and "pairing_code" not in p for p in company)
            pending, groups = admins[0]
            assert pending["qr_svg"].startswith("<svg") and pending["id"] == channel.id
            owner = User.objects.get(email="owner@alpha.test")
            assert f"alpha.user.{owner.id}" in groups and all(g.startswith("alpha.user.") for g in groups)
            assert pending["advice"].startswith("Open WhatsApp")
            assert company[2]["status"] == "connected" and admins[2][0]["qr_svg"] == ""
            channel.qr_session.refresh_from_db()
            assert (
                channel.qr_session.warmup_started_on is not None
            )  # ready for the first time: warm-up starts
        finally:
            Channel.objects.filter(pk=channel.pk).delete()
            from tenants.models import ChannelRoute

            ChannelRoute.objects.filter(external_id=channel.external_id).delete()
