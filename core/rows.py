"""Model instances from hand-written SQL, for the few reads on a hot path where building and compiling
an ORM query costs several times the query itself (a primary-key read: ~300 µs of CPU through the ORM,
~40 µs this way). The columns come from the model and values pass through Django's own converters, so
the instance is the one the ORM would have loaded."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import models


class ModelColumns:
    """The concrete columns of `model` under a table alias, and how to turn a row's slice into an instance."""

    def __init__(self, model: type[models.Model], alias: str):
        self.model = model
        self.table = model._meta.db_table
        self.fields = list(model._meta.concrete_fields)
        self.pk_index = self.fields.index(model._meta.pk)
        self.sql = ", ".join(f'{alias}."{field.column}"' for field in self.fields)
        self._attnames = [field.attname for field in self.fields]
        self._columns = [field.get_col(alias) for field in self.fields]
        self._converters: dict[str, list[tuple[int, list]]] = {}

    def __len__(self) -> int:
        return len(self.fields)

    def _converters_for(self, connection) -> list[tuple[int, list]]:
        converters = self._converters.get(connection.vendor)
        if converters is None:
            converters = []
            for index, column in enumerate(self._columns):
                functions = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
                if functions:
                    converters.append((index, functions))
            self._converters[connection.vendor] = converters
        return converters

    def instance(self, values: Sequence, connection) -> models.Model:
        values = list(values)
        for index, functions in self._converters_for(connection):
            value = values[index]
            for function in functions:
                value = function(value, self._columns[index], connection)
            values[index] = value
        return self.model.from_db(connection.alias, self._attnames, values)


class ModelInsert:
    """The INSERT that Model.save() sends for a new instance (its concrete fields but an automatic primary
    key, each value through the field's own pre_save and get_db_prep_save), built once, for a hot path that
    writes the row as part of a larger statement. No save signals are sent: keep it to models that have no
    receivers."""

    def __init__(self, model: type[models.Model]):
        meta = model._meta
        self.fields = [f for f in meta.local_concrete_fields if f is not meta.auto_field and not f.generated]
        if [f.attname for f in meta.db_returning_fields] != [meta.pk.attname] or any(
            hasattr(f, "get_placeholder") for f in self.fields
        ):
            raise ValueError(f"{model.__name__} needs Django's own INSERT (returned or placeholder fields)")
        columns = ", ".join(f'"{f.column}"' for f in self.fields)
        placeholders = ", ".join(["%s"] * len(self.fields))
        self.sql = (
            f'INSERT INTO "{meta.db_table}" ({columns}) VALUES ({placeholders}) RETURNING "{meta.pk.column}"'
        )

    def params(self, instance: models.Model, connection) -> list:
        return [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in self.fields]

    @staticmethod
    def saved(instance: models.Model, pk, connection) -> None:
        """Mark the instance as saved with the primary key the INSERT returned, as Model.save() does."""
        instance.pk = pk
        instance._state.adding = False
        instance._state.db = connection.alias
