from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("imaging", "0010_study_permissions"),
    ]

    operations = [
        migrations.AddField(
            model_name="patient",
            name="is_restricted",
            field=models.BooleanField(
                default=False,
                help_text="Every access to this patient's studies raises an alert to the clinic's privacy officers.",
                verbose_name="restricted (VIP)",
            ),
        ),
    ]
