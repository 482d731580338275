"""Parameter accounting: every method's trainable and total parameters on a given base model.

Models are built on the meta device (real shapes, no memory, no weights), so the table for the
15.5B StarCoder takes seconds on a laptop. Trainable % = trainable / all parameters of the adapted
model, as in the study's Figure 2.
"""

from __future__ import annotations

from astraios import methods, models


def parameter_table(model_name: str) -> list[dict]:
    base_total = methods.count_parameters(models.meta_model(model_name)).total
    rows = []
    for method in methods.METHODS.values():
        adapted = method.apply(models.meta_model(model_name), method.config_class())
        counts = methods.count_parameters(adapted)
        rows.append(
            {
                "method": method.name,
                "title": method.title,
                "family": method.family,
                "description": method.description,
                "trainable": counts.trainable,
                "total": counts.total,
                "base_total": base_total,
                "trainable_percent": counts.trainable_percent,
            }
        )
    return rows
