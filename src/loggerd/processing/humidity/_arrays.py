"""Floats and arrays: the array types, and the decorator that lets a function written on float64
arrays take floats and give a float back.
"""

from __future__ import annotations

import functools
import inspect
import numbers
import typing
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
ArrayInput = npt.NDArray[np.floating[Any]] | npt.NDArray[np.integer[Any]]
_Call = TypeVar("_Call")


def _is_scalar(value: object) -> bool:
    # numpy registers its scalar types as numbers.Real, so np.float32 counts as a scalar here.
    return isinstance(value, numbers.Real) and not isinstance(value, np.ndarray)


def frozen(value: float) -> FloatArray:
    """A read-only 0-d array: the default of a vectorised input, shown to callers as a float."""
    array = np.array(value, dtype=np.float64)
    array.flags.writeable = False
    return array


def _is_vectorised(parameter: inspect.Parameter) -> bool:
    return parameter.annotation in ("FloatArray", FloatArray)


def _check_call(function: Callable[..., FloatArray], call: Callable[..., object]) -> None:
    """Fail at import unless `function` takes the parameters of its public `call` (names, kinds,
    no default it lacks) and is vectorised in exactly those that the call lets be arrays."""
    parameters = inspect.signature(function).parameters
    arrays: set[str] = set()
    for variant in typing.get_overloads(vars(call)["__call__"]):
        public = list(inspect.signature(variant).parameters.values())[1:]  # after self
        if [(p.name, p.kind) for p in public] != [(p.name, p.kind) for p in parameters.values()]:
            raise TypeError(f"{function.__name__} does not take the parameters of {call!r}")
        if any(p.default is not p.empty and parameters[p.name].default is p.empty for p in public):
            raise TypeError(f"{call!r} gives {function.__name__} a default it does not have")
        arrays |= {p.name for p in public if "ArrayInput" in str(p.annotation)}
    if arrays != {name for name, p in parameters.items() if _is_vectorised(p)}:
        raise TypeError(f"{function.__name__} is not vectorised in the inputs {call!r} names")


def _as_called(parameter: inspect.Parameter) -> inspect.Parameter:
    """A vectorised parameter as callers see it: a float or any array, its default a float."""
    if not _is_vectorised(parameter):
        return parameter
    default = parameter.default
    return parameter.replace(
        annotation="float | ArrayInput",
        default=default if default is parameter.empty else float(default),
    )


def _vectorise(function: Callable[..., FloatArray]) -> Callable[..., float | FloatArray]:
    signature = inspect.signature(function)
    inputs = [
        (None if parameter.kind is parameter.KEYWORD_ONLY else index, parameter.name)
        for index, parameter in enumerate(signature.parameters.values())
        if _is_vectorised(parameter)
    ]

    @functools.wraps(function)
    def vectorised_function(*args: object, **kwargs: object) -> float | FloatArray:
        values = list(args)
        scalars = True
        for index, name in inputs:
            # An input left out has its default, a scalar.
            if index is not None and index < len(values):
                scalars = scalars and _is_scalar(values[index])
                values[index] = np.asarray(values[index], dtype=np.float64)
            elif name in kwargs:
                scalars = scalars and _is_scalar(kwargs[name])
                kwargs[name] = np.asarray(kwargs[name], dtype=np.float64)
        result = function(*values, **kwargs)
        return float(result) if scalars else result

    # What help() and inspect show: the signature callers use, not the one on arrays.
    public = [_as_called(parameter) for parameter in signature.parameters.values()]
    vectorised_function.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=public, return_annotation="float | FloatArray"
    )
    return vectorised_function


def vectorised(call: Callable[..., _Call]) -> Callable[[Callable[..., FloatArray]], _Call]:
    """Give a function written on float64 arrays its public `call`, a Protocol of `_calls`.

    Each parameter annotated `FloatArray` takes a float or any numeric array, converted with
    np.asarray; the result is a Python float when every such input given is a scalar, else the
    function's array. Range checks stay in the functions, in their order: it decides which
    error a call with several bad inputs raises.
    """

    # `call` is typed as a callable because mypy takes no Protocol where type[...] is expected.
    def decorate(function: Callable[..., FloatArray]) -> _Call:
        _check_call(function, call)
        return cast(_Call, _vectorise(function))

    return decorate
