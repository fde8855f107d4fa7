"""Model files: rnnlab's safetensors format (``native``), Keras 3's HDF5 weights (``keras_h5``),
``.keras`` archives written (``keras_write``) and read (``keras_read``), and ``load_model``
(``load``), which dispatches by extension; Keras's registration of classes of your own
(``register_keras_serializable``, ``custom_object_scope``, ``get_custom_objects``) from :mod:`rnnlab.core.registration`.

The writers and the weights reader sit below the models (``Model.save`` calls them); ``keras_read``
and ``load`` build models, so they sit above. Nothing else is imported here, so that the model can use
the writers without loading the readers.
"""

from ..core.registration import (
    CustomObjectScope,
    custom_object_scope,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
)

__all__ = [
    "CustomObjectScope",
    "custom_object_scope",
    "get_custom_objects",
    "get_registered_name",
    "get_registered_object",
    "register_keras_serializable",
]
