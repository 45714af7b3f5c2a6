"""A spec against the registry: every variant resolves, and all accept the same inputs.

Compatible input signatures (what one request can be sent to any variant):

- the same kind (``columns`` or ``tensors``) and the same input names **in the same order**
  (a client may send one 2-D tensor whose columns are in signature order);
- per input, dtypes of one family the validator converts between without loss of meaning:
  floats with floats, integers with integers (signed or not; the validator checks ranges),
  ``string`` with ``bytes``; ``bool`` only with ``bool``. A float and an integer differ
  (a fraction valid for one is refused by the other);
- tensor shapes of the same rank whose fixed dimensions agree (``-1`` matches any size).

Nullability and ``frame`` may differ: a null refused by one variant shows as that variant's
error rate, and the frame is built per model.
"""

from __future__ import annotations

from collections.abc import Callable

from shipyard.errors import InvalidSpec, NotFound
from shipyard.registry.refs import ModelRef
from shipyard.registry.types import ModelVersion
from shipyard.rollout.spec import DeploymentSpec
from shipyard.schema.signature import FLOAT_DTYPES, FieldSpec, Signature

_INTEGER = frozenset({"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"})
_TEXT = frozenset({"string", "bytes"})
_SHOWN = 8


def _family(dtype: str) -> str:
    if dtype in FLOAT_DTYPES:
        return "float"
    if dtype in _INTEGER:
        return "integer"
    if dtype in _TEXT:
        return "text"
    return dtype


def _shapes_agree(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return len(a) == len(b) and all(x == y or -1 in (x, y) for x, y in zip(a, b, strict=True))


def signature_differences(a: Signature, b: Signature, *, a_name: str = "a", b_name: str = "b") -> list[str]:
    """What keeps one request from suiting both signatures, one item per input ('' if none)."""
    out: list[str] = []
    if a.kind != b.kind:
        out.append(f"kind ({a.kind} vs {b.kind})")
    b_fields = {f.name: f for f in b.inputs}
    a_fields = {f.name: f for f in a.inputs}
    for fa in a.inputs:
        fb = b_fields.get(fa.name)
        if fb is None:
            out.append(f"{fa.name} (missing in {b_name})")
            continue
        out.extend(_field_difference(fa, fb))
    out.extend(f"{fb.name} (missing in {a_name})" for fb in b.inputs if fb.name not in a_fields)
    if not out and a.input_names != b.input_names:
        out.append(f"order ({', '.join(a.input_names)} vs {', '.join(b.input_names)})")
    return out


def _field_difference(fa: FieldSpec, fb: FieldSpec) -> list[str]:
    if _family(fa.dtype) != _family(fb.dtype):
        return [f"{fa.name} ({fa.dtype} vs {fb.dtype})"]
    if not _shapes_agree(fa.shape, fb.shape):
        return [f"{fa.name} (shape {list(fa.shape)} vs {list(fb.shape)})"]
    return []


def check_variants(
    spec: DeploymentSpec,
    resolve: Callable[[ModelRef], ModelVersion],
    *,
    model_exists: Callable[[str], bool],
) -> dict[str, ModelVersion]:
    """Resolve every variant's model and check that all accept the same inputs.

    Returns the version each variant serves now (an alias is followed once, here), in spec
    order. Raises the registry's ``NotFound`` (with the variant named) for an unknown model,
    version or alias; ``InvalidSpec`` naming the columns that differ; ``InvalidSpec``
    when the deployment carries the name of an existing model (``model_exists``) that none of
    its variants serves, or when an experiment's sticky input field is not an input.
    """
    versions: dict[str, ModelVersion] = {}
    for name, variant in spec.variants.items():
        try:
            versions[name] = resolve(variant.ref)
        except NotFound as exc:
            raise type(exc)(
                f"variant {name} ({variant.model}): {exc.message}",
                hint=exc.hint,
                **{**exc.details, "variant": name, "field": f"variants.{name}.model"},
            ) from exc
    if model_exists(spec.name) and not any(v.ref.name == spec.name for v in spec.variants.values()):
        raise InvalidSpec(
            f"deployment {spec.name}: a model is named {spec.name} too, and none of the variants serves it",
            hint=f"serve a version of {spec.name} in one of the variants, or name the deployment otherwise",
            field="deployment",
        )
    names = list(versions)
    if names:
        base = spec.primary or names[0]
        reference = versions[base].signature
        for name in names:
            if name == base:
                continue
            diffs = signature_differences(reference, versions[name].signature, a_name=base, b_name=name)
            if diffs:
                shown = ", ".join(diffs[:_SHOWN]) + (f" and {len(diffs) - _SHOWN} more" if len(diffs) > _SHOWN else "")
                raise InvalidSpec(
                    f"variants {base} and {name} differ in columns: {shown}",
                    hint="every variant must accept the same inputs",
                    field=f"variants.{name}.model",
                    variants=[base, name],
                    differences=diffs,
                )
        experiment = spec.experiment
        field = None if experiment is None else experiment.sticky_key.field
        if field is not None and reference.position(field) is None:
            raise InvalidSpec(
                f"experiment.sticky_key.field: {field!r} is not an input of the variants",
                field="experiment.sticky_key.field",
            )
    return versions
