from __future__ import annotations

from channels.generic.websocket import AsyncJsonWebsocketConsumer

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

    async def realtime_event(self, message):
        await self.send_json({"type": message["event"], "payload": message["payload"]})
