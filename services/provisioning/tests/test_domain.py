from __future__ import annotations

from datetime import datetime

import pytest

from provisioning.domain import (
    InvalidDefaults,
    InvalidOrganization,
    Tenant,
    TenantDefaults,
    TenantProvisioned,
)

DEFAULTS = TenantDefaults("UTC", "en-GB", "eu-west", "trial")


def test_a_tenant_is_provisioned_with_the_defaults_and_records_it(now: datetime) -> None:
    tenant = Tenant.provision("org-1", "  Acme Ltd ", "user-1", DEFAULTS, now)
    assert (tenant.id, tenant.name, tenant.created_by) == ("org-1", "Acme Ltd", "user-1")
    assert tenant.settings == DEFAULTS
    assert tenant.provisioned_at == now
    assert tenant.recorded == (TenantProvisioned("org-1", "Acme Ltd"),)


def test_a_blank_name_is_refused(now: datetime) -> None:
    with pytest.raises(InvalidOrganization):
        Tenant.provision("org-1", "   ", "user-1", DEFAULTS, now)


@pytest.mark.parametrize(
    "defaults",
    [
        TenantDefaults("Mars/Olympus", "en-GB", "eu-west", "trial"),
        TenantDefaults("UTC", " ", "eu-west", "trial"),
        TenantDefaults("UTC", "en-GB", "", "trial"),
        TenantDefaults("UTC", "en-GB", "eu-west", " "),
    ],
)
def test_bad_defaults_are_refused(defaults: TenantDefaults, now: datetime) -> None:
    with pytest.raises(InvalidDefaults):
        Tenant.provision("org-1", "Acme", "user-1", defaults, now)
