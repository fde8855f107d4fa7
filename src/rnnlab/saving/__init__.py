"""Model files: rnnlab's safetensors format (``native``), Keras 3's HDF5 weights (``keras_h5``),
``.keras`` archives written (``keras_write``) and read (``keras_read``), and ``load_model``
(``load``), which dispatches by extension.

The writers and the weights reader sit below the models (``Model.save`` calls them); ``keras_read``
and ``load`` build models, so they sit above. Nothing is imported here, so that the model can use
the writers without loading the readers.
"""
