import pytest
from django.core.management import call_command
from django_q.models import Schedule

from sync import tasks
from sync.schedules import SCHEDULES
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def test_apply_schedules_is_idempotent_and_removes_stale():
    Schedule.objects.create(name="deskbridge.old", func="sync.tasks.gone", schedule_type=Schedule.HOURLY)
    Schedule.objects.create(name="someone-elses", func="x.y", schedule_type=Schedule.HOURLY)
    call_command("apply_schedules")
    call_command("apply_schedules")
    names = set(Schedule.objects.values_list("name", flat=True))
    assert names == {s["name"] for s in SCHEDULES} | {"someone-elses"}
    assert Schedule.objects.filter(name__startswith="deskbridge.").count() == len(SCHEDULES)


def test_license_refresh_reads_jira(tenant, jira):
    jira.license = {"active": False, "type": "commercial"}
    assert tasks.license_refresh(tenant.pk) == "none"
    tenant.refresh_from_db()
    assert tenant.license == Tenant.License.NONE and tenant.license_checked_at is not None
    jira.license = {"active": True}
    assert tasks.license_refresh(tenant.pk) == "active"
    jira.license = None  # development install: no licence block
    assert tasks.license_refresh(tenant.pk) == "unknown"
    assert jira.rejected_auth == []


def test_license_refresh_halts_on_jira_error_and_keeps_state(tenant, jira):
    jira.fail_next(503, b"", {"Retry-After": "30"})
    assert tasks.license_refresh(tenant.pk).startswith("halted")
    tenant.refresh_from_db()
    assert tenant.license == Tenant.License.ACTIVE


def test_dispatch_enqueues_one_task_per_active_tenant(tenant, jira, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert tasks.license_refresh_dispatch() == 1
    assert len(callbacks) == 1
    assert len(jira.calls("GET", "/addons/")) == 1  # sync mode in tests: the task ran
