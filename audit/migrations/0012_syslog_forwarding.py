from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("audit", "0011_sharing_and_review_actions")]

    operations = [
        migrations.CreateModel(
            name="SyslogCursor",
            fields=[
                ("chain", models.CharField(max_length=40, primary_key=True, serialize=False)),
                (
                    "sequence",
                    models.PositiveBigIntegerField(default=0, help_text="The last event of the chain sent."),
                ),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                ("leased_until", models.DateTimeField(blank=True, null=True)),
                (
                    "last_error",
                    models.CharField(blank=True, help_text="Why the last attempt failed.", max_length=200),
                ),
            ],
        ),
    ]
