"""Hooks for the tiny tasks: per-family document filters and the exact-match scorer.

The scorer is spin.tiny.tasks.score, so the harness and the pipeline judge answers alike.
"""

from spin.tiny.tasks import score


def _family(dataset, family: str):
    return dataset.filter(lambda doc: doc["family"] == family)


def docs_add(dataset):
    return _family(dataset, "add")


def docs_sort(dataset):
    return _family(dataset, "sort")


def docs_reverse(dataset):
    return _family(dataset, "reverse")


def docs_repeat(dataset):
    return _family(dataset, "repeat")


def docs_lookup(dataset):
    return _family(dataset, "lookup")


def process_results(doc, results):
    return {"exact_match": float(score(results[0], doc["answer"]))}
