"""Read models in tests: catch-up, rebuild, snapshots and the oracle against the aggregates."""

from __future__ import annotations

import asyncio
import contextlib
import random
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from lotse.api.demo import generate_journey
from lotse.api.runtime import Runtime
from lotse.domain.access import accepted_referrals
from lotse.domain.envelope import Envelope
from lotse.domain.errors import RuleViolationError
from lotse.domain.participant import Participant
from lotse.projections.catalogue import PROJECTIONS
from lotse.projections.model import age_band
from lotse.projections.rebuild import rebuild
from lotse.projections.runner import Runner
from lotse.storage.keys import MasterKey


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def pool_for(runtime: Runtime) -> asyncpg.Pool:
    return await asyncpg.create_pool(runtime.database.url, min_size=1, max_size=4)


async def catch_up(runtime: Runtime, master: MasterKey, batch_size: int = 97) -> None:
    pool = await pool_for(runtime)
    runner = Runner(pool, master, list(PROJECTIONS.values()), batch_size=batch_size)
    await runner.acquire(wait=False)
    try:
        await runner.catch_up()
    finally:
        await runner.release()
        await pool.close()


async def snapshot(runtime: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    """Every read-model row, in key order; sealed names differ by nonce, so left out."""
    conn = await asyncpg.connect(runtime.database.url)
    try:
        result = {}
        for projection in PROJECTIONS.values():
            for table in projection.tables:
                columns = [c for c in table.column_names if c != "names_sealed"]
                rows = await conn.fetch(
                    f"SELECT {', '.join(columns)} FROM {table.name} "
                    f"ORDER BY {', '.join(table.primary_key)}"
                )
                result[table.name] = [tuple(r) for r in rows]
        return result
    finally:
        await conn.close()


def refer_at_random(
    p: Participant,
    rng: random.Random,
    config: Any,
    programme: Any,
    env: Envelope,
    today: date,
) -> None:
    """A referral to another provider, accepted or not, ended or not."""
    receiving = config.providers[
        rng.choice([x for x in sorted(config.providers) if x != p.provider])
    ]
    day = max(p.last_effective_date, p.intake_date)
    referral_id = p.make_referral(
        envelope=env,
        effective_date=day,
        today=today,
        programme=programme,
        receiving=receiving,
        module=rng.choice(["F1", "F2", "F4"]),
    )
    if rng.random() < 0.7:
        accepting = Envelope("teacher", "caseworker", receiving.id, "test")
        p.accept_referral(
            envelope=accepting, effective_date=day, today=today, referral_id=referral_id
        )
    if rng.random() < 0.3:
        p.end_referral(
            envelope=env,
            effective_date=day,
            today=today,
            referral_id=referral_id,
            reason="completed",
        )


def journeys_with_twists(runtime: Runtime, rng: random.Random, count: int) -> list[UUID]:
    """Realistic journeys plus corrections, transfers and erasures at random."""
    journeys = runtime.journeys
    config = journeys.configuration
    programme = config.programmes["durchstarten"]
    today = journeys.clock()
    ids = []
    for _ in range(count):
        p = generate_journey(rng, config, programme, today)
        journeys.save(p)
        ids.append(p.id)
        twist = rng.random()
        env = Envelope("coach", "caseworker", p.provider, "test")
        if rng.random() < 0.5 and p.consent_version and not p.consent_withdrawn and not p.exit_date:
            refer_at_random(p, rng, config, programme, env, today)
        if twist < 0.3 and p._entries:
            version = rng.choice(sorted(p._entries))
            entry = p._entries[version]
            changes = _a_correction(type(entry).__name__, rng)
            if changes:
                day = max(p.last_effective_date, p.intake_date)
                # A correction that would break the journey (a module changed under
                # its lesson hours, say) is refused and writes nothing.
                with contextlib.suppress(RuleViolationError):
                    p.correct_entry(
                        envelope=env,
                        effective_date=day,
                        today=today,
                        programme=programme,
                        corrects_version=version,
                        reason="Korrektur",
                        changes=changes,
                    )
        elif twist < 0.4 and p.exit_date is None:
            other = rng.choice([x for x in sorted(config.providers) if x != p.provider])
            p.transfer(
                envelope=env,
                effective_date=max(p.last_effective_date, p.intake_date),
                today=today,
                to_provider=other,
                to_municipality=config.providers[other].municipality,
            )
        elif twist < 0.5:
            p.erase_personal_data(
                envelope=env,
                today=today,
                mode=rng.choice(["shred", "restrict"]),
                reason_code="other",
            )
        if p.pending_events:
            journeys._save(
                p, None, shred=any(getattr(e, "mode", "") == "shred" for e in p.pending_events)
            )
    return ids


def _a_correction(event_type: str, rng: random.Random) -> dict[str, Any] | None:
    match event_type:
        case "Registered":
            return {"gender": rng.choice(["female", "male", "diverse"]), "nationality": "ER"}
        case "LanguageLevelAssessed":
            return {"level": rng.choice(["A1", "B2"])}
        case "ModuleEntered":
            return {"module": rng.choice(["F2", "F6"])} if rng.random() < 0.5 else None
        case "Exited":
            return {"destination": "school"}
        case "CoachingContactLogged":
            return {"minutes": 15}
    return None


def expected_spans(p: Participant) -> list[tuple[Any, ...]]:
    spans: list[list[Any]] = []
    for version in sorted(p._entries):
        e = p._entries[version]
        name = type(e).__name__
        if name == "ModuleEntered":
            spans.append([p.id, version, e.module, e.effective_date, None, None])  # type: ignore[attr-defined]
        elif name == "ModuleExited":
            for span in spans:
                if span[2] == e.module and span[4] is None:  # type: ignore[attr-defined]
                    span[4], span[5] = e.effective_date, e.reason  # type: ignore[attr-defined]
        elif name == "CaseTransferred" and e.from_municipality != e.to_municipality:  # type: ignore[attr-defined]
            # The open stays move with the person: ended here, continued there.
            moved = [s for s in spans if s[4] is None]
            for span in moved:
                span[4], span[5] = e.effective_date, "transferred"
            spans += [[p.id, version, s[2], e.effective_date, None, None] for s in moved]
    return sorted((tuple(s) for s in spans), key=lambda s: (s[1], s[2]))


def expected_outcomes(p: Participant) -> list[tuple[Any, ...]]:
    found = []
    for version in sorted(p._entries):
        e = p._entries[version]
        if type(e).__name__ == "Exited":
            found.append((version, "exit", e.effective_date, e.destination))  # type: ignore[attr-defined]
        elif type(e).__name__ == "FollowUpRecorded":
            found.append((version, "follow_up", e.effective_date, e.destination))  # type: ignore[attr-defined]
    return found


async def read_models_match_aggregates(runtime: Runtime, ids: list[UUID]) -> None:
    conn = await asyncpg.connect(runtime.database.url)
    try:
        for pid in ids:
            p = runtime.journeys.repository.get(pid)
            row = await conn.fetchrow(
                "SELECT * FROM rm_participants WHERE participant_id = $1", pid
            )
            assert row is not None
            assert (row["status"], row["provider"], row["municipality"]) == (
                p.status,
                p.provider,
                p.municipality,
            )
            assert row["open_modules"] == sorted(p.open_modules)
            assert (row["gender"], row["nationality"], row["residence_status"]) == (
                p.gender,
                p.nationality,
                p.residence_status,
            )
            assert row["age_band"] == age_band(p.age_at_intake)
            assert (row["language_level"], row["eligible"], row["target_group"]) == (
                p.language_level,
                p.eligible,
                p.target_group,
            )
            assert (row["coaching_contacts"], row["coaching_minutes"]) == (
                p.coaching_contacts,
                p.coaching_minutes,
            )
            assert row["lesson_hours"] == sum(p.lesson_hours.values(), start=0)
            assert (row["exit_date"], row["exit_reason"], row["exit_destination"]) == (
                p.exit_date,
                p.exit_reason,
                p.exit_destination,
            )
            assert (row["corrections"], row["personal_data_erased"], row["restricted"]) == (
                p.corrections,
                p.personal_data_erased,
                p.restricted,
            )
            assert (row["version"], row["last_milestone"], row["last_effective_date"]) == (
                p.version,
                p.last_milestone,
                p.last_effective_date,
            )
            assert (row["names_sealed"] is None) == (p.personal_data_erased or p.given_name is None)
            spans = await conn.fetch(
                "SELECT participant_id, entered_version, module, entered, exited, exit_reason "
                "FROM rm_module_stays WHERE participant_id = $1 ORDER BY entered_version, module",
                pid,
            )
            assert [tuple(s) for s in spans] == expected_spans(p)
            outcomes = await conn.fetch(
                "SELECT version, kind, effective_date, destination FROM rm_outcomes "
                "WHERE participant_id = $1 ORDER BY version",
                pid,
            )
            assert [tuple(o) for o in outcomes] == expected_outcomes(p)
            timeline = await conn.fetch(
                "SELECT version, corrects_version FROM rm_timeline "
                "WHERE participant_id = $1 ORDER BY version",
                pid,
            )
            assert [t["version"] for t in timeline] == list(range(1, p.version + 1))
            accepted = await conn.fetchval(
                "SELECT referrals FROM rm_participants WHERE participant_id = $1", pid
            )
            assert accepted == [f"{x}/{m}" for x, m in accepted_referrals(p.referrals.values())]
            referrals = await conn.fetch(
                "SELECT referral_id, provider, module, status, lead_provider, municipality "
                "FROM rm_referrals WHERE participant_id = $1 ORDER BY referral_id",
                pid,
            )
            assert [tuple(r) for r in referrals] == [
                (
                    r.referral_id,
                    r.provider,
                    r.module,
                    "ended" if r.ended else "accepted" if r.accepted else "made",
                    p.provider,
                    p.municipality,
                )
                for r in sorted(p.referrals.values(), key=lambda r: r.referral_id)
            ]
    finally:
        await conn.close()


async def rebuild_all(runtime: Runtime, master: MasterKey, **options: Any) -> dict[str, int]:
    pool = await pool_for(runtime)
    try:
        return await rebuild(pool, master, list(PROJECTIONS.values()), batch_size=101, **options)
    finally:
        await pool.close()


async def fetch_rows(runtime: Runtime, query: str) -> list[tuple[Any, ...]]:
    conn = await asyncpg.connect(runtime.database.url)
    try:
        return [tuple(r) for r in await conn.fetch(query)]
    finally:
        await conn.close()


def query(runtime: Runtime, sql: str, *args: Any) -> list[dict[str, Any]]:
    async def fetch() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(runtime.database.url)
        try:
            return [dict(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    return list(asyncio.run(fetch()))


def tracking(runtime: Runtime) -> dict[str, dict[str, Any]]:
    rows = query(runtime, "SELECT * FROM lotse_projections WHERE status = 'active'")
    return {r["name"]: r for r in rows}


def parked(runtime: Runtime) -> list[tuple[str, int]]:
    rows = query(runtime, "SELECT name, position FROM lotse_projection_parked ORDER BY name")
    return [(r["name"], r["position"]) for r in rows]
