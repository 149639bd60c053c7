"""A case-sensitive prefix lookup that means the same on SQLite and PostgreSQL.

Django's ``startswith`` becomes ``LIKE``, which SQLite compares without case;
an access rule must select exactly what Python's ``str.startswith`` selects.
"""

from django.db.models import CharField, Lookup

__all__ = ["ExactPrefix"]


@CharField.register_lookup
class ExactPrefix(Lookup):
    lookup_name = "exactprefix"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"SUBSTR({lhs}, 1, LENGTH({rhs})) = {rhs}", [
            *lhs_params,
            *rhs_params,
            *rhs_params,
        ]
