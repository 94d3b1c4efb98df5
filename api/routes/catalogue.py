"""The programme catalogue and the organisations: configuration, no personal data."""

from __future__ import annotations

from fastapi import APIRouter

from lotse.api.deps import RuntimeDep
from lotse.api.schemas import ModulePublic, OrganisationPublic, ProgrammePublic

router = APIRouter(tags=["catalogue"])


@router.get("/programmes", response_model=list[ProgrammePublic])
def list_programmes(runtime: RuntimeDep) -> list[ProgrammePublic]:
    """List the configured programmes with their funding modules."""
    return [
        ProgrammePublic(
            id=p.id,
            name=p.name,
            config_version=p.config_version,
            eligibility_rule_version=p.eligibility.rule_version,
            modules=[
                ModulePublic(code=m.code, name=m.name, per_participant=m.per_participant)
                for m in p.modules
            ],
            consent_versions=[c.id for c in p.consent_versions],
        )
        for p in runtime.configuration.programmes.values()
    ]


@router.get("/organisations", response_model=list[OrganisationPublic])
def list_organisations(runtime: RuntimeDep) -> list[OrganisationPublic]:
    """List municipalities and the providers (Träger) that belong to them."""
    config = runtime.configuration
    municipalities = [
        OrganisationPublic(id=m.id, name=m.name, kind="municipality", municipality=None)
        for m in config.municipalities.values()
    ]
    providers = [
        OrganisationPublic(id=p.id, name=p.name, kind="provider", municipality=p.municipality)
        for p in config.providers.values()
    ]
    return municipalities + providers
