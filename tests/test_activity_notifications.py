"""Run failure and health notifications, posted to a real local receiver by the real sensors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from dagster import (
    DagsterEventType,
    DagsterInstance,
    JobDefinition,
    build_run_status_sensor_context,
    build_sensor_context,
)
from sqlalchemy import select, update

from lightfast_pipeline import tags
from lightfast_pipeline.activity import actions
from lightfast_pipeline.activity.health import HealthLevel, record_health_levels, record_workspace_health
from lightfast_pipeline.activity.notify import deliver_pending, post_message
from lightfast_pipeline.catalog.models import ActivityEvent, NotificationSent, utcnow
from lightfast_pipeline.resources.catalog import CatalogResource
from lightfast_pipeline.resources.notifications import NotificationsResource
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.sensors.notifications import deliver_notifications, notify_run_failures
from lightfast_pipeline.settings import NotifySettings, Settings, load_notify_settings
from tests.support.activity_data import HUGE_ERROR, Catalog, failing_job, huge_failure_job, seed_catalog
from tests.support.http_receiver import WebhookReceiver, block_kit_errors, webhook_receiver

UI = "http://dagster.example:3000"


@dataclass
class Env:
    runtime: Runtime
    instance: DagsterInstance
    catalog: Catalog
    receiver: WebhookReceiver


@pytest.fixture
def env(lightfast_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    with webhook_receiver() as receiver, DagsterInstance.get() as instance:
        monkeypatch.setenv("LIGHTFAST_NOTIFY_WEBHOOK_URL", receiver.url)
        monkeypatch.setenv("LIGHTFAST_DAGSTER_UI_URL", UI + "/")
        runtime = Runtime(lightfast_env, instance=instance)
        with runtime.session() as session:
            catalog = seed_catalog(session)
        yield Env(runtime, instance, catalog, receiver)


def _failed_run(env: Env, job: JobDefinition = failing_job, trigger: str = "webhook") -> str:
    repository = env.catalog.repositories[0]
    result = job.execute_in_process(
        instance=env.instance,
        raise_on_error=False,
        tags={tags.WORKSPACE: "acme", tags.REPOSITORY: repository.uid, tags.TRIGGER: trigger},
    )
    assert not result.success
    return result.run_id


def _run_failure_sensor(env: Env, run_id: str) -> None:
    records = env.instance.get_records_for_run(run_id, of_type=DagsterEventType.RUN_FAILURE).records
    context = build_run_status_sensor_context(
        sensor_name="notify_run_failures",
        dagster_event=records[0].event_log_entry.dagster_event,
        dagster_instance=env.instance,
        dagster_run=env.instance.get_run_by_id(run_id),
        resources=_resources(env),
    ).for_run_failure()
    notify_run_failures(context)


def _resources(env: Env) -> dict[str, object]:
    """The sensors' resources, as instances on this test's catalog and receiver (from its environment)."""
    notify = load_notify_settings()
    return {
        "catalog": CatalogResource(database_url=env.runtime.settings.database_url),
        "notifications": NotificationsResource(webhook_url=notify.webhook_url, dagster_ui_url=notify.dagster_ui_url),
    }


def _deliver_sensor(env: Env) -> str:
    return deliver_notifications(build_sensor_context(instance=env.instance, resources=_resources(env))).skip_message


def _rows(env: Env, action: str) -> list[ActivityEvent]:
    with env.runtime.session() as session:
        return list(session.scalars(select(ActivityEvent).where(ActivityEvent.action == action)))


def _notification(env: Env, key: str) -> NotificationSent:
    with env.runtime.session() as session:
        return session.get(NotificationSent, key)


def _texts(message: dict) -> str:
    return repr(message["blocks"])


def test_a_failed_run_is_recorded_and_announced_once(env: Env) -> None:
    run_id = _failed_run(env)
    _run_failure_sensor(env, run_id)
    _run_failure_sensor(env, run_id)  # a repeated tick: nothing twice
    (row,) = _rows(env, actions.RUN_FAILED)
    assert (row.run_id, row.status, row.actor, row.repository_name) == (
        run_id,
        "failure",
        "system",
        "acme/docs",
    )
    assert row.workspace_id == env.catalog.workspaces["acme"] and row.source_type == "github"
    assert "embedding provider answered 503" in row.message and row.after["job"] == "failing_job"
    assert row.reason == "webhook"
    (message,) = env.receiver.accepted
    assert message["text"].startswith("Run failed: failing_job for acme/docs")
    blocks = _texts(message)
    for expected in ("acme/docs", "failing_job", "embedding provider answered 503", f"{UI}/runs/{run_id}"):
        assert expected in blocks
    assert message["blocks"][-1]["elements"][0]["url"] == f"{UI}/runs/{run_id}"
    sent = _notification(env, f"run.failed:{run_id}")
    assert (sent.status, sent.attempts) == ("sent", 1)
    assert _deliver_sensor(env) == "notifications: 0 sent, 0 failed, 0 pending"
    assert len(env.receiver.requests) == 1


def test_a_failure_that_will_be_retried_is_not_announced_and_its_last_retry_is(env: Env) -> None:
    """Dagster's run retries tag a failed run ``dagster/will_retry`` when they will start it again: only the
    attempt that is not retried (the last) is recorded and announced."""
    retried = _failed_run(env)
    env.instance.add_run_tags(retried, {"dagster/will_retry": "true"})
    _run_failure_sensor(env, retried)
    assert _rows(env, actions.RUN_FAILED) == [] and env.receiver.requests == []

    last = _failed_run(env)
    env.instance.add_run_tags(last, {"dagster/will_retry": "false"})
    _run_failure_sensor(env, last)
    (row,) = _rows(env, actions.RUN_FAILED)
    assert row.run_id == last
    (message,) = env.receiver.accepted
    assert last in _texts(message)


def test_a_huge_error_is_announced_within_block_kit_limits(env: Env) -> None:
    """190 KB of error text full of characters mrkdwn escapes, and a 5,000-character trigger: the receiver
    refuses blocks over Slack's limits, so the message is cut to fit (it used to be refused: HTTP 400)."""
    run_id = _failed_run(env, huge_failure_job, trigger="t" * 5_000)
    _run_failure_sensor(env, run_id)
    assert env.receiver.refused == []
    (message,) = env.receiver.accepted
    assert block_kit_errors(message) == []
    header, fields, error, _button = message["blocks"]
    assert header["text"]["text"] == "Run failed: huge_failure_job"
    trigger = fields["fields"][3]["text"]
    assert len(trigger) == 2000 and trigger.startswith("*Trigger*\nttt") and trigger.endswith("t…")
    text = error["text"]["text"]
    assert 2990 <= len(text) <= 3000
    assert text.startswith("*Error*\n```explode_hugely: dagster._core.definitions.events.Failure: upstream answered")
    assert "&lt;html&gt; &amp; gave up\nline 0: &lt;div" in text
    assert text.endswith("…```")
    assert message["text"].startswith("Run failed: huge_failure_job for acme/docs: explode_hugely: ")
    assert _notification(env, f"run.failed:{run_id}").status == "sent"
    assert HUGE_ERROR.strip() in _rows(env, actions.RUN_FAILED)[0].message  # the activity row keeps it whole


def test_the_receiver_refuses_blocks_over_the_limits(env: Env) -> None:
    too_many = {"text": "x", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}] * 51}
    result = post_message(env.receiver.url, too_many)
    assert not result.ok and env.receiver.refused == [["blocks: 51 (at most 50)"]]
    header = {"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}
    fields = {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}] * 11}
    assert block_kit_errors({"blocks": [header, fields]}) == [
        "blocks[0].text: 151 characters (at most 150)",
        "blocks[1].fields: 11 (at most 10)",
        *[f"blocks[1].fields[{n}]: 2001 characters (at most 2000)" for n in range(11)],
    ]


def test_a_failing_receiver_gets_the_message_once_it_recovers(env: Env) -> None:
    env.receiver.fail_next(5, status=503)
    run_id = _failed_run(env)
    _run_failure_sensor(env, run_id)  # 3 attempts, all 503
    assert env.receiver.accepted == [] and len(env.receiver.requests) == 3
    assert (
        _notification(env, f"run.failed:{run_id}").status,
        _notification(env, f"run.failed:{run_id}").attempts,
    ) == (
        "pending",
        3,
    )
    assert _deliver_sensor(env) == "notifications: 1 sent, 0 failed, 0 pending"  # 503, 503, then 200
    assert len(env.receiver.accepted) == 1 and len(env.receiver.requests) == 6
    assert _notification(env, f"run.failed:{run_id}").attempts == 6
    _deliver_sensor(env)
    assert len(env.receiver.requests) == 6
    assert len(_rows(env, actions.RUN_FAILED)) == 1


def test_a_receiver_that_is_down_gets_the_queue_when_back(env: Env) -> None:
    down = WebhookReceiver()
    down_url = down.url
    down.close()
    settings = NotifySettings(webhook_url=down_url, dagster_ui_url=UI)
    run_id = _failed_run(env)
    _run_failure_sensor(env, run_id)  # delivered to the live receiver: one sent
    with env.runtime.session() as session:
        events = record_health_levels(session, [HealthLevel("workspace", "acme", "down")], notify=True)
    report = deliver_pending(env.runtime.session, settings, backoff=0.01)
    assert (report.sent, report.pending) == (0, 1)
    assert _notification(env, f"health.changed:{events[0].id}").attempts == 3
    report = deliver_pending(env.runtime.session, load_notify_settings(), backoff=0.01)  # back up
    assert (report.sent, report.pending) == (1, 0)
    assert [m["text"].split(":")[0] for m in env.receiver.accepted] == ["Run failed", "Health"]


def test_a_rejected_message_is_not_retried(env: Env) -> None:
    env.receiver.fail_next(1, status=400)
    run_id = _failed_run(env)
    _run_failure_sensor(env, run_id)
    sent = _notification(env, f"run.failed:{run_id}")
    assert (sent.status, sent.attempts) == ("failed", 1)
    _deliver_sensor(env)
    assert len(env.receiver.requests) == 1


def test_throttling_honours_retry_after(env: Env) -> None:
    env.receiver.fail_next(1, status=429, headers={"Retry-After": "0"})
    waits: list[float] = []
    result = post_message(env.receiver.url, {"text": "hello"}, sleep=waits.append)
    assert result.ok and result.attempts == 2 and waits == [0.0]


def test_health_transitions_are_recorded_once_each_and_announced(env: Env) -> None:
    sequence = ["healthy", "degraded", "degraded", "down", "idle", "down", "healthy", "healthy"]
    recorded = []
    for level in sequence:
        with env.runtime.session() as session:
            levels = [
                HealthLevel("source", "beta/api-docs", level, workspace="beta", reason="success rate 85%"),
                HealthLevel("workspace", "acme", "healthy", workspace="acme"),
            ]
            recorded += [
                (e.before["level"], e.after["level"]) for e in record_health_levels(session, levels, notify=True)
            ]
    assert recorded == [("healthy", "degraded"), ("degraded", "down"), ("down", "healthy")]
    rows = _rows(env, actions.HEALTH_CHANGED)
    assert {(r.entity_type, r.entity_id, r.repository_name) for r in rows} == {
        ("source", "beta/beta/api-docs", "beta/api-docs")
    }
    assert [r.status for r in rows] == ["failure", "failure", "success"]
    assert all(r.workspace_id == env.catalog.workspaces["beta"] and r.source_type == "github" for r in rows)
    assert _deliver_sensor(env) == "notifications: 3 sent, 0 failed, 0 pending"
    texts = [m["text"] for m in env.receiver.accepted]
    assert texts == [
        "Health: source beta/beta/api-docs is degraded (healthy → degraded)",
        "Health: source beta/beta/api-docs is down (degraded → down)",
        "Health: source beta/beta/api-docs recovered (down → healthy)",
    ]
    assert "beta/api-docs" in _texts(env.receiver.accepted[0]) and UI in _texts(env.receiver.accepted[0])


def test_bad_health_levels_are_rejected_and_nothing_is_recorded(env: Env) -> None:
    with pytest.raises(ValueError, match="unknown health level 'sick'"), env.runtime.session() as session:
        record_health_levels(
            session,
            [HealthLevel("workspace", "acme", "down"), HealthLevel("workspace", "beta", "sick")],
            notify=True,
        )
    assert _rows(env, actions.HEALTH_CHANGED) == []


def test_a_claimed_notification_is_left_alone_until_its_claim_is_stale(env: Env) -> None:
    with env.runtime.session() as session:
        (event,) = record_health_levels(session, [HealthLevel("overall", "overall", "down")], notify=True)
    key = f"health.changed:{event.id}"
    with env.runtime.session() as session:
        session.execute(update(NotificationSent).where(NotificationSent.key == key).values(status="sending"))
    assert _deliver_sensor(env) == "notifications: 0 sent, 0 failed, 0 pending"
    with env.runtime.session() as session:
        stale = utcnow() - timedelta(minutes=10)
        session.execute(update(NotificationSent).where(NotificationSent.key == key).values(sent_at=stale))
    assert _deliver_sensor(env) == "notifications: 1 sent, 0 failed, 0 pending"
    assert len(env.receiver.requests) == 1


def test_without_a_webhook_url_failures_are_still_recorded(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIGHTFAST_NOTIFY_WEBHOOK_URL")
    run_id = _failed_run(env)
    _run_failure_sensor(env, run_id)
    assert len(_rows(env, actions.RUN_FAILED)) == 1
    assert _notification(env, f"run.failed:{run_id}") is None
    assert env.receiver.requests == []


def test_workspace_levels_from_the_metrics_asset_are_recorded_and_announced(env: Env) -> None:
    settings = env.runtime.settings
    (changed,) = record_workspace_health(settings, {"acme": "degraded", "beta": "idle"}, notify=True)
    assert record_workspace_health(settings, {"acme": "degraded", "beta": "healthy"}, notify=True) == []
    with env.runtime.session() as session:
        row = session.get(ActivityEvent, changed)
    assert (row.entity_type, row.entity_id, row.workspace_id) == (
        "workspace",
        "acme",
        env.catalog.workspaces["acme"],
    )
    assert _deliver_sensor(env) == "notifications: 1 sent, 0 failed, 0 pending"
    assert env.receiver.accepted[0]["text"] == "Health: workspace acme is degraded (healthy → degraded)"
