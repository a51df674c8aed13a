"""The rating moves to the assessment app; the case keeps its summary and a priority level.

Severity ranks (1-4, 5 unrated) become the levels of ``mamori.core.priority`` (P1-P5) as that
module derives them from a severity alone: Critical P2, Important P3, Moderate P4, Low P5,
unrated P3. The assessment recomputes the full priority at its next change.
"""

from django.db import migrations, models

LEVELS = {"critical": 2, "important": 3, "moderate": 4, "low": 5}
POINTS = {"critical": 40, "important": 30, "moderate": 20, "low": 10}


def forwards(apps, schema_editor):
    Case = apps.get_model("cases", "Case")
    for severity, level in LEVELS.items():
        Case.objects.filter(severity=severity).update(
            priority=level, priority_score=POINTS[severity]
        )
    Case.objects.filter(severity="").update(priority=3, priority_score=0.0)


def backwards(apps, schema_editor):
    Case = apps.get_model("cases", "Case")
    for rank, severity in enumerate(LEVELS, start=1):
        Case.objects.filter(severity=severity).update(priority=rank)
    Case.objects.filter(severity="").update(priority=5)


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0003_duplicate_candidates"),
        ("assessment", "0002_ratings_from_cases"),
    ]

    operations = [
        migrations.AddField(
            model_name="case",
            name="priority_score",
            field=models.FloatField(default=0.0),
        ),
        migrations.AlterField(
            model_name="case",
            name="priority",
            field=models.PositiveSmallIntegerField(db_index=True, default=3),
        ),
        migrations.RunPython(forwards, backwards),
        migrations.RemoveField(model_name="case", name="cvss_vector"),
    ]
