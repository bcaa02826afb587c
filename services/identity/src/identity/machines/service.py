"""Registering a machine: an end user of kind machine with an API key, in its own personal
organization (registered anonymously) or in the organization of the user registering it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from chassis.clock import Clock, utc_now
from chassis.errors import NotAllowed
from chassis.logging import new_id
from chassis.storage.unit_of_work import UnitOfWork
from chassis.web.auth import Caller
from identity.apikeys.domain import ApiKey, new_secret
from identity.apikeys.service import ApiKeysTransaction
from identity.organizations.service import OrganizationsTransaction
from identity.people import with_personal_organization
from identity.users.domain import MEMBER_ROLES, EndUser, UserKind

# The description of the key a machine gets when it registers.
REGISTRATION_KEY = "issued at the machine's registration"


class MachinesTransaction(OrganizationsTransaction, ApiKeysTransaction, Protocol):
    pass


@dataclass(frozen=True)
class RegisteredMachine:
    user: EndUser
    key: ApiKey
    # Shown this once, like every API key.
    api_key: str

    def __repr__(self) -> str:
        return f"RegisteredMachine(user={self.user.id}, key={self.key.id}, api_key=***)"


class MachineService:
    def __init__(self, uow: UnitOfWork[MachinesTransaction], clock: Clock = utc_now) -> None:
        self._uow = uow
        self._clock = clock

    async def register(self, name: str, caller: Caller | None) -> RegisteredMachine:
        """A machine named `name`. Registered by a signed-in user, it joins the organization
        their token acts for as a member; anonymously, it founds a personal one, as a person
        does."""
        user_id = new_id()
        organization_id = new_id() if caller is None else caller.tenant_id
        if organization_id is None:
            raise NotAllowed("the token names no organization for the machine to join")
        secret = new_secret()

        async def work(tx: MachinesTransaction) -> RegisteredMachine:
            now = self._clock()
            if caller is None:
                founded = with_personal_organization(
                    UserKind.MACHINE,
                    now,
                    name=name,
                    first_name=name,
                    user_id=user_id,
                    organization_id=organization_id,
                )
                machine = founded.user
                await tx.organizations.add(founded.organization)
            else:
                registrar = await tx.users.get(caller.user_id)
                if registrar is None or not registrar.is_member(organization_id):
                    raise NotAllowed("only members register machines in an organization")
                machine = EndUser.register(
                    UserKind.MACHINE,
                    organization_id,
                    MEMBER_ROLES,
                    now,
                    first_name=name,
                    user_id=user_id,
                )
            key = ApiKey.create(user_id, secret, now, description=REGISTRATION_KEY)
            await tx.users.add(machine)
            await tx.api_keys.add(key)
            return RegisteredMachine(machine, key, secret.value)

        return await self._uow.run(
            work,
            tenant_id=organization_id,
            actor_id=caller.user_id if caller is not None else user_id,
        )
