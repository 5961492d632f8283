from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django_tenants.utils import schema_context

from core.realtime import company_group, user_group

# Close codes the dashboard shows the user a reason for.
CLOSE_UNKNOWN_COMPANY = 4404
CLOSE_NOT_AUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_SUSPENDED = 4423


class RealtimeConsumer(AsyncJsonWebsocketConsumer):
    """`/ws/`: one socket per dashboard tab, joined to the company's and the user's groups."""

    groups_joined: list[str]

    async def connect(self):
        self.groups_joined = []
        tenant, user = self.scope.get("tenant"), self.scope.get("user")
        await self.accept()
        if tenant is None:
            return await self.close(code=CLOSE_UNKNOWN_COMPANY)
        if not self.scope.get("origin_matches_host"):
            return await self.close(code=CLOSE_FORBIDDEN)
        if user is None or not user.is_authenticated or not user.is_active:
            return await self.close(code=CLOSE_NOT_AUTHENTICATED)
        if tenant.is_suspended:
            return await self.close(code=CLOSE_SUSPENDED)
        self.audience = await self._audience(tenant.schema_name, user)
        self.groups_joined = [company_group(tenant.schema_name), user_group(tenant.schema_name, user.id)]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.send_json({"type": "hello", "payload": {"company": tenant.slug, "user_id": user.id}})

    async def disconnect(self, code):
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    @database_sync_to_async
    def _audience(self, schema_name: str, user):
        from dashboard.selectors import RealtimeAudience

        with schema_context(schema_name):
            return RealtimeAudience.of(user)

    @database_sync_to_async
    def _visible_by_id(self, conversation_id: int) -> bool:
        with schema_context(self.scope["tenant"].schema_name):
            return self.audience.conversation_visible_by_id(conversation_id)

    async def _payload_for_me(self, event_type: str, payload: dict) -> dict | None:
        """Agents only hear about the conversations they may open (the same rule as the inbox pages); a
        conversation that just left their sight is announced by id alone, so its row goes away."""
        if self.audience.sees_everything:
            return payload
        if event_type.startswith("conversation."):
            was_visible = self.audience.known.get(payload["id"])
            if self.audience.conversation_visible(payload):
                return payload
            return {"id": payload["id"], "status": payload["status"]} if was_visible else None
        if event_type.startswith("message."):
            visible = self.audience.message_visible(payload["conversation_id"])
            if visible is None:
                visible = await self._visible_by_id(payload["conversation_id"])
            return payload if visible else None
        return payload

    @database_sync_to_async
    def _user_reloaded(self):
        from accounts.models import User

        with schema_context(self.scope["tenant"].schema_name):
            return User.objects.filter(pk=self.scope["user"].pk, is_active=True).first()

    async def realtime_event(self, message) -> bool:
        """Pass one event on if this user may see it; False once the socket was closed."""
        if message["event"] == "user.access_changed":
            user = await self._user_reloaded()
            if user is None:  # deactivated meanwhile
                await self.close(code=CLOSE_NOT_AUTHENTICATED)
                return False
            self.audience = await self._audience(self.scope["tenant"].schema_name, user)
        payload = await self._payload_for_me(message["event"], message["payload"])
        if payload is not None:
            await self.send_json({"type": message["event"], "payload": payload})
        return True

    async def realtime_batch(self, message):
        """Events that were sent together (see core.realtime), each as if it had come alone, in order."""
        for event in message["events"]:
            if not await self.realtime_event(event):
                return
