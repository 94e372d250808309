"""Write every account's score and route as CSV on stdout, for a CRM import."""

import csv

from django.core.management.base import BaseCommand

from scoring.selectors import SCORE_EXPORT_COLUMNS, score_export_rows


class Command(BaseCommand):
    help = (
        "CSV of account id, name, domain, score, value, engagement, route, queue state "
        "and top reasons (CRM-import-friendly column names) on stdout."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--route", action="append", default=[], help="Only these routes (repeatable)."
        )

    def handle(self, *args, **options) -> None:
        writer = csv.writer(self.stdout, lineterminator="\n")
        writer.writerow(SCORE_EXPORT_COLUMNS)
        for row in score_export_rows(routes=options["route"]):
            writer.writerow(row)
