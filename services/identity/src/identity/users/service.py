"""Use cases of end users: platform roles, and the organization a user acts for."""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from chassis.errors import NotAllowed, NotFound
from chassis.storage.unit_of_work import UnitOfWork
from chassis.web.auth import Caller
from identity.users.domain import EndUser
from identity.users.repository import UserQueries, UserRepository


class UserNotFound(NotFound):
    pass


class UsersTransaction(Protocol):
    @property
    def users(self) -> UserRepository: ...


class UserService:
    def __init__(self, uow: UnitOfWork[UsersTransaction], users: UserQueries) -> None:
        self._uow = uow
        self._users = users

    async def assign(self, caller: Caller, user_id: str, roles: Collection[str]) -> EndUser:
        return await self._change(caller, user_id, lambda user: user.assign(roles))

    async def unassign(self, caller: Caller, user_id: str, roles: Collection[str]) -> EndUser:
        return await self._change(caller, user_id, lambda user: user.unassign(roles))

    async def choose_default_organization(self, caller: Caller, organization_id: str) -> EndUser:
        """The caller's tokens act for `organization_id` from the next one (a refresh)."""

        async def work(tx: UsersTransaction) -> EndUser:
            user = await _get(tx, caller.user_id)
            user.choose_default_organization(organization_id)
            await tx.users.save(user)
            return user

        return await self._uow.run(work, tenant_id=organization_id, actor_id=caller.user_id)

    async def _change(self, caller: Caller, user_id: str, change: _Change) -> EndUser:
        if not caller.is_operator:
            raise NotAllowed("only operators assign and unassign platform roles")

        async def work(tx: UsersTransaction) -> EndUser:
            user = await _get(tx, user_id)
            change(user)
            await tx.users.save(user)
            return user

        # The user's organization's record: its owners see who changed their member's roles.
        tenant = await self._users.tenant_of(user_id)
        return await self._uow.run(work, tenant_id=tenant, actor_id=caller.user_id)


class _Change(Protocol):
    def __call__(self, user: EndUser) -> None: ...


async def _get(tx: UsersTransaction, user_id: str) -> EndUser:
    user = await tx.users.get(user_id)
    if user is None:
        raise UserNotFound(f"there is no user {user_id}")
    return user
