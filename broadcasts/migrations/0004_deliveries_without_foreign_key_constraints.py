import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('broadcasts', '0003_pseudonym_and_archived_counts'),
        ('subscribers', '0003_pseudonym_and_archived_counts'),
    ]

    operations = [
        migrations.AlterField(
            model_name='delivery',
            name='broadcast',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='broadcasts.broadcast'),
        ),
        migrations.AlterField(
            model_name='delivery',
            name='subscriber',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='subscribers.subscriber'),
        ),
    ]
