"""The single sign-on providers identity trusts, from its settings: `SSO_PROVIDERS`, a JSON
list of `{name, issuer, client_id, client_secret, scopes?}`. A provider is any OpenID Connect
issuer: Google is `https://accounts.google.com`, Microsoft's work and school accounts
`https://login.microsoftonline.com/<tenant id>/v2.0`, the local simulator its base URL."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from chassis.config import ChassisSettings

# Scopes beyond openid give the claims a person is registered with.
DEFAULT_SCOPES = ("openid", "email", "profile")


class SsoProviderSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # What `POST /sso/auth` names the provider by.
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
    # Exactly as the provider's id_tokens say it (no trailing slash added or taken away):
    # the discovery document is read under it and `iss` must equal it.
    issuer: Annotated[str, Field(pattern=r"^https?://[^\s?#]+$")]
    client_id: Annotated[str, Field(min_length=1)]
    client_secret: SecretStr
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    # How long one call to the provider may take.
    timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    # The provider's addresses are its own to give (Microsoft Entra ID's work accounts, whose
    # id_tokens carry no `email_verified`): trusted as verified. Leave it off for any provider
    # where a person may type in an address they do not own.
    vouches_for_email: bool = False

    @field_validator("scopes")
    @classmethod
    def _openid(cls, scopes: tuple[str, ...]) -> tuple[str, ...]:
        if "openid" not in scopes:
            raise ValueError("an OpenID Connect sign-in needs the openid scope")
        return scopes


class SsoSettings(ChassisSettings):
    """Mixed into identity's settings."""

    sso_providers: list[SsoProviderSettings] = Field(default_factory=list)

    @field_validator("sso_providers")
    @classmethod
    def _unique(cls, providers: list[SsoProviderSettings]) -> list[SsoProviderSettings]:
        names = [p.name for p in providers]
        if len(set(names)) != len(names):
            raise ValueError("each SSO provider needs a name of its own")
        return providers
