"""The only module of this provider that speaks HTTP: Graph API Send API and profile calls for one page (or
Instagram account), with the page access token. Reuses the WhatsApp Cloud client's plumbing and error map."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from channels_wa.providers.base import ContactProfile, ProviderRequestError, SendResult
from channels_wa.providers.meta_whatsapp.client import MetaGraphClient
from channels_wa.providers.meta_whatsapp.errors import bad_response_error

MESSENGER_PROFILE_FIELDS = "first_name,last_name,profile_pic"
INSTAGRAM_PROFILE_FIELDS = "name,username,profile_pic"


class MessengerGraphClient(MetaGraphClient):
    def send(self, payload: Mapping[str, Any]) -> SendResult:
        """POST /{page or Instagram account id}/messages; the result carries the mid or the mapped error."""
        try:
            body = self._request("POST", self.url(f"{self.config.external_id}/messages"), json=payload)
        except ProviderRequestError as exc:
            return SendResult(error=exc.error)
        message_id = str(body.get("message_id") or "")
        if not message_id:
            return SendResult(error=bad_response_error(200, f"no message_id in {body!r:.300}"), raw=body)
        return SendResult(provider_message_id=message_id, raw=body)

    def profile(self, user_id: str, *, is_instagram: bool) -> ContactProfile:
        fields = INSTAGRAM_PROFILE_FIELDS if is_instagram else MESSENGER_PROFILE_FIELDS
        body = self._request("GET", self.url(user_id), params={"fields": fields})
        if is_instagram:
            name = str(body.get("name") or body.get("username") or "")
        else:
            name = " ".join(str(body.get(key) or "") for key in ("first_name", "last_name")).strip()
        return ContactProfile(name=name, picture_url=str(body.get("profile_pic") or ""))

    def download(self, url: str) -> tuple[bytes, str]:
        response = self._send("GET", url, follow_redirects=True)
        if not response.is_success:
            raise ProviderRequestError(self._error_from_response(response))
        return response.content, response.headers.get("content-type", "").split(";")[0]
