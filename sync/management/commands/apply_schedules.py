from django.core.management.base import BaseCommand
from django.db import transaction
from django_q.models import Schedule

from sync.schedules import PREFIX, SCHEDULES


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules declared in sync/schedules.py (idempotent)."

    def handle(self, *args, **options):
        names = []
        with transaction.atomic():
            for spec in SCHEDULES:
                spec = dict(spec)
                name = spec.pop("name")
                names.append(name)
                _, created = Schedule.objects.update_or_create(name=name, defaults=spec)
                self.stdout.write(f"{'created' if created else 'updated'} schedule {name}")
            stale = Schedule.objects.filter(name__startswith=PREFIX).exclude(name__in=names)
            for name in stale.values_list("name", flat=True):
                self.stdout.write(f"removed stale schedule {name}")
            stale.delete()
