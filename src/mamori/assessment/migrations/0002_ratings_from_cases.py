"""Carry each case's CVSS vector, kept on the case until now, into its assessment."""

from django.db import migrations


def forwards(apps, schema_editor):
    Case = apps.get_model("cases", "Case")
    Assessment = apps.get_model("assessment", "Assessment")
    for case in Case.objects.exclude(cvss_vector="").only("pk", "cvss_vector", "cvss_score"):
        slot = "cvss_v4" if case.cvss_vector.startswith("CVSS:4.0/") else "cvss_v3"
        Assessment.objects.update_or_create(
            case_id=case.pk,
            defaults={f"{slot}_vector": case.cvss_vector, f"{slot}_score": case.cvss_score},
        )


def backwards(apps, schema_editor):
    Case = apps.get_model("cases", "Case")
    Assessment = apps.get_model("assessment", "Assessment")
    for a in Assessment.objects.all():
        vector = a.cvss_v4_vector or a.cvss_v3_vector
        if vector:
            Case.objects.filter(pk=a.case_id).update(cvss_vector=vector)


class Migration(migrations.Migration):
    dependencies = [("assessment", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
