"""One transaction of identity, holding every repository: a use case may touch several
subdomains at once (a registration writes a user, their credential and their personal
organization together)."""

from __future__ import annotations

from collections.abc import Callable

from chassis.storage.mongo import Indexes
from chassis.storage.unit_of_work import Scope
from identity.apikeys import repository as apikeys
from identity.credentials import repository as credentials
from identity.invitations import repository as invitations
from identity.organizations.repository import MongoOrganizations
from identity.sso import repository as sso
from identity.tokens import repository as tokens
from identity.users import repository as users

INDEXES: Indexes = {
    **users.INDEXES,
    **credentials.INDEXES,
    **tokens.INDEXES,
    **apikeys.INDEXES,
    **sso.INDEXES,
    **invitations.INDEXES,
}


class MongoIdentityTransaction:
    def __init__(self, scope: Scope, passphrase: bytes) -> None:
        self.users = users.MongoUsers(scope)
        self.credentials = credentials.MongoCredentials(scope)
        self.organizations = MongoOrganizations(scope)
        self.invitations = invitations.MongoInvitations(scope)
        self.refresh_tokens = tokens.MongoRefreshTokens(scope)
        self.signing_keys = tokens.MongoSigningKeys(scope, passphrase)
        self.sso_links = sso.MongoSsoLinks(scope)
        # An integration event of no aggregate's (the audit of a login nobody could own).
        self.publish = scope.publish
        self.api_keys = apikeys.MongoApiKeys(scope)


def transactions(passphrase: bytes) -> Callable[[Scope], MongoIdentityTransaction]:
    """What the unit of work makes each transaction with: the passphrase the signing keys
    are encrypted with is bound once."""
    return lambda scope: MongoIdentityTransaction(scope, passphrase)
