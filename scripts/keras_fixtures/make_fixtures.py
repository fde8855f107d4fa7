"""Generate golden test fixtures for rnnlab with REAL Keras 3 (TensorFlow backend, CPU).

This script is *not* part of the rnnlab package and Keras/TensorFlow are never
dependencies of rnnlab: the fixtures it writes are committed to the repository
and the test-suite only reads them with numpy / json / zipfile / h5py.

How to run (from the repository root)::

    python -m venv /tmp/kv \
      && /tmp/kv/bin/pip install -r scripts/keras_fixtures/requirements.txt \
      && /tmp/kv/bin/python scripts/keras_fixtures/make_fixtures.py

It writes, into ``tests/fixtures/keras/``:

``layers.npz`` / ``layers.json``
    One entry per single-layer case (SimpleRNN / LSTM / GRU / Bidirectional).
    npz keys are prefixed with the case name:

    * ``{case}/x``      float32 input, shape (batch, time, features)
    * ``{case}/mask``   bool (batch, time); only when the case uses a mask
    * ``{case}/s{k}``   float32 initial states, in the order passed as
      ``initial_state=[...]`` ([h, c] for LSTM, [h] otherwise); only when
      the case uses an initial state
    * ``{case}/w{i}``   the i-th array of ``layer.get_weights()``
    * ``{case}/out{j}`` the j-th output of the call (output first, then states
      when ``return_state=True``; for ``Bidirectional(merge_mode=None)`` the
      forward and backward outputs are out0 and out1)

    Shapes: batch 4, time 6, features 3, units 4 (the stateful case: batch 3).
    The stateful case uses ``{case}/x1``, ``{case}/x2``, ``{case}/out_1``,
    ``{case}/out_2`` (x2 continuing from the state left by x1) and
    ``{case}/out_reset`` (x2 again after ``reset_states()``).

    ``layers.json`` maps case name -> {"layer", "config", "n_weights",
    "n_outputs", "weight_shapes", "mask", "initial_state", "keras_config"}.
    "config" holds exactly the kwargs that were passed to the constructor (for
    Bidirectional: {"layer": inner class name, "layer_config": inner kwargs,
    "merge_mode": ...}); "keras_config" is ``layer.get_config()`` for reference.

``<name>.keras`` / ``models.npz``
    Small Sequential models saved with ``model.save``; ``models.npz`` holds
    ``{name}/x`` and ``{name}/y`` (= ``model.predict(x)``).  Models:
    embed_lstm, stacked, bidir_gru, gru_reset_before, timedistributed,
    unsupported (contains a Conv1D, which rnnlab must reject; no entry in
    ``models.npz``) and lstm_compiled (compiled and trained for two epochs,
    so its archive also has a compile_config and optimizer variables).

``summary_<name>.txt``
    ``model.summary(line_length=88)`` text (the width Keras uses for a
    Sequential model on a terminal at least 92 columns wide) of each model
    above (written before saving; lstm_compiled after training, so it has an
    "Optimizer params" line), plus ``summary_lstm_simplernn.txt`` and
    ``summary_embedding_lstm.txt`` for two larger unsaved models.  Each model
    is built in a fresh Keras session, so names are "sequential", "lstm", ...

Every weight (biases included) is overwritten with draws from normal(0, 0.5),
so that swapped gates or mis-ordered weights are visible; inputs are
normal(0, 1).  Each case has its own numpy Generator seeded from a CRC32 of
its name, so adding or removing a case never changes the data of the others.
The npz files and the .keras archives are written with fixed zip timestamps
(and a fixed ``date_saved`` in the .keras metadata) so that re-running the
script does not produce spurious binary diffs.
"""

import os

# Must be set before keras / tensorflow are imported.
os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ["CUDA_VISIBLE_DEVICES"] = "-1"  # CPU only: no cuDNN kernels
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"  # plain (reproducible) CPU kernels

import io
import json
import pathlib
import zipfile
import zlib

import keras
import numpy as np
import tensorflow as tf
from keras import layers

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / "tests" / "fixtures" / "keras"

# Small shapes; FEATURES != UNITS so that kernel / recurrent kernel
# transposition errors are caught by shape checks.
BATCH, TIME, FEATURES, UNITS = 4, 6, 3, 4
WEIGHT_STD = 0.5
FIXED_ZIP_DATE = (1980, 1, 1, 0, 0, 0)

# Masks, shape (BATCH, TIME).
# Right padding: row 0 is full length, the others end early.
MASK_RIGHT = np.array(
    [
        [1, 1, 1, 1, 1, 1],
        [1, 1, 1, 1, 0, 0],
        [1, 1, 0, 0, 0, 0],
        [1, 1, 1, 1, 1, 0],
    ],
    dtype=bool,
)
# Row 0 full, row 1 LEFT-padded (valid steps at the end), row 2 has a hole in
# the middle, row 3 mixes leading padding, a hole and trailing padding.
MASK_LEFT_HOLE = np.array(
    [
        [1, 1, 1, 1, 1, 1],
        [0, 0, 1, 1, 1, 1],
        [1, 1, 0, 1, 1, 1],
        [0, 1, 1, 0, 1, 0],
    ],
    dtype=bool,
)
MASKS = {"right": MASK_RIGHT, "left_hole": MASK_LEFT_HOLE}

# name prefix -> (Keras class, extra constructor kwargs)
CELLS = {
    "simplernn": (layers.SimpleRNN, {}),
    "lstm": (layers.LSTM, {}),
    "gru": (layers.GRU, {"reset_after": True}),
    "gru_reset_before": (layers.GRU, {"reset_after": False}),
}


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def rng_for(name):
    """A numpy Generator whose seed depends only on `name`."""
    return np.random.default_rng(zlib.crc32(name.encode("utf-8")))


def randomize_weights(layer, rng):
    """Overwrite every weight of `layer` with normal(0, WEIGHT_STD) draws."""
    new = [rng.normal(0.0, WEIGHT_STD, size=w.shape).astype(w.dtype) for w in layer.get_weights()]
    layer.set_weights(new)
    return new


def as_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def write_npz(path, arrays):
    """Like np.savez but with fixed zip timestamps (byte-reproducible)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=FIXED_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())


def _renumber_shared_object_ids(node, ids):
    """Replace Python id()-based ``shared_object_id`` values by 1, 2, 3, ..."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "shared_object_id":
                node[key] = ids.setdefault(value, len(ids) + 1)
            else:
                _renumber_shared_object_ids(value, ids)
    elif isinstance(node, list):
        for value in node:
            _renumber_shared_object_ids(value, ids)


def normalize_keras_archive(path):
    """Make a .keras zip byte-reproducible.

    Keras stamps the archive with the current time (zip member dates and
    ``date_saved`` in metadata.json) and numbers shared objects in
    config.json with Python ``id()`` values.  Those are replaced by fixed
    values (ids renumbered consistently, so sharing is preserved); everything
    else, model.weights.h5 in particular, is copied byte for byte with the
    original compression.
    """
    with zipfile.ZipFile(path) as zf:
        members = [(i, zf.read(i.filename)) for i in zf.infolist()]
    with zipfile.ZipFile(path, "w") as zf:
        for old, data in members:
            if old.filename == "metadata.json":
                meta = json.loads(data)
                meta["date_saved"] = "1980-01-01@00:00:00"
                data = json.dumps(meta).encode("utf-8")
            elif old.filename == "config.json":
                config = json.loads(data)
                _renumber_shared_object_ids(config, {})
                data = json.dumps(config).encode("utf-8")
            info = zipfile.ZipInfo(old.filename, date_time=FIXED_ZIP_DATE)
            info.compress_type = old.compress_type
            zf.writestr(info, data)


# --------------------------------------------------------------------------
# A. single-layer cases
# --------------------------------------------------------------------------
class LayerFixtures:
    def __init__(self):
        self.arrays = {}
        self.meta = {}

    def add(
        self,
        case,
        cls,
        kwargs,
        mask=None,
        initial_state=False,
        bidirectional=None,
    ):
        """Build one layer, randomize its weights, run it and record everything.

        `bidirectional`: None, or a dict of Bidirectional kwargs (merge_mode)
        in which case `cls(**kwargs)` is the wrapped layer.
        """
        assert case not in self.meta, case
        keras.backend.clear_session()  # auto-generated layer names restart
        rng = rng_for(case)
        if bidirectional is None:
            layer = cls(**kwargs)
            config = dict(kwargs)
            layer_name = cls.__name__
        else:
            layer = layers.Bidirectional(cls(**kwargs), **bidirectional)
            config = {"layer": cls.__name__, "layer_config": dict(kwargs)}
            config.update(bidirectional)
            layer_name = "Bidirectional"

        x = rng.normal(0.0, 1.0, size=(BATCH, TIME, FEATURES)).astype("float32")
        call_kwargs = {}
        if mask is not None:
            call_kwargs["mask"] = mask
        states = None
        if initial_state:
            inner = layer.forward_layer if bidirectional is not None else layer
            n_dirs = 2 if bidirectional is not None else 1
            n_states = 2 if isinstance(inner, layers.LSTM) else 1  # [h, c] / [h]
            states = [
                rng.normal(0.0, 1.0, size=(BATCH, inner.cell.units)).astype("float32") for _ in range(n_states * n_dirs)
            ]
            call_kwargs["initial_state"] = states

        layer(x, **call_kwargs)  # build
        weights = randomize_weights(layer, rng)
        outs = [np.asarray(o) for o in as_list(layer(x, **call_kwargs))]

        self.arrays[f"{case}/x"] = x
        if mask is not None:
            self.arrays[f"{case}/mask"] = mask
        for k, s in enumerate(states or []):
            self.arrays[f"{case}/s{k}"] = s
        for i, w in enumerate(weights):
            self.arrays[f"{case}/w{i}"] = w
        for j, o in enumerate(outs):
            self.arrays[f"{case}/out{j}"] = o
        self.meta[case] = {
            "layer": layer_name,
            "config": config,
            "n_weights": len(weights),
            "n_outputs": len(outs),
            "weight_shapes": [list(w.shape) for w in weights],
            "mask": mask is not None,
            "initial_state": bool(initial_state),
            "keras_config": layer.get_config(),
        }

    def add_stateful(self, case):
        """LSTM(stateful=True): x1 then x2 (state carried over), reset, x2."""
        keras.backend.clear_session()
        rng = rng_for(case)
        kwargs = {"units": UNITS, "stateful": True, "return_sequences": True}
        layer = layers.LSTM(**kwargs)
        batch = 3  # fixed batch size of the stateful layer
        x1 = rng.normal(0.0, 1.0, size=(batch, TIME, FEATURES)).astype("float32")
        x2 = rng.normal(0.0, 1.0, size=(batch, TIME, FEATURES)).astype("float32")
        layer(x1)  # build (creates the state variables)
        weights = randomize_weights(layer, rng)
        layer.reset_states()  # forget the state left by the build call
        out_1 = np.asarray(layer(x1))
        out_2 = np.asarray(layer(x2))
        layer.reset_states()
        out_reset = np.asarray(layer(x2))

        self.arrays.update(
            {
                f"{case}/x1": x1,
                f"{case}/x2": x2,
                f"{case}/out_1": out_1,
                f"{case}/out_2": out_2,
                f"{case}/out_reset": out_reset,
            }
        )
        for i, w in enumerate(weights):
            self.arrays[f"{case}/w{i}"] = w
        self.meta[case] = {
            "layer": "LSTM",
            "config": kwargs,
            "n_weights": len(weights),
            "n_outputs": 1,
            "weight_shapes": [list(w.shape) for w in weights],
            "mask": False,
            "initial_state": False,
            "keras_config": layer.get_config(),
        }


def make_layer_fixtures():
    fx = LayerFixtures()
    u = UNITS

    # Per-cell cases.
    for prefix, (cls, extra) in CELLS.items():
        kw = dict(units=u, **extra)
        fx.add(
            f"{prefix}_seq_state",
            cls,
            dict(kw, return_sequences=True, return_state=True),
        )
        fx.add(
            f"{prefix}_last_state_mask_right",
            cls,
            dict(kw, return_sequences=False, return_state=True),
            mask=MASK_RIGHT,
        )
        fx.add(
            f"{prefix}_seq_mask_left_hole",
            cls,
            dict(kw, return_sequences=True),
            mask=MASK_LEFT_HOLE,
        )
        fx.add(
            f"{prefix}_back_seq_mask_right",
            cls,
            dict(kw, go_backwards=True, return_sequences=True),
            mask=MASK_RIGHT,
        )
        fx.add(
            f"{prefix}_back_seq",
            cls,
            dict(kw, go_backwards=True, return_sequences=True),
        )
        fx.add(
            f"{prefix}_init_state",
            cls,
            dict(kw, return_sequences=True, return_state=True),
            initial_state=True,
        )
        # Extra: initial state + leading masked steps.  Pins that outputs at
        # leading masked steps are zeros (not h0) while the state stays h0.
        fx.add(
            f"{prefix}_init_state_mask_left_hole",
            cls,
            dict(kw, return_sequences=True, return_state=True),
            mask=MASK_LEFT_HOLE,
            initial_state=True,
        )

    # Extra: zero_output_for_mask=True (what Bidirectional forces on its
    # inner layers when return_sequences=True, and what their saved configs
    # contain): masked steps give zeros instead of repeating the last output.
    fx.add(
        "lstm_seq_mask_left_hole_zero_output",
        layers.LSTM,
        dict(units=u, return_sequences=True, return_state=True, zero_output_for_mask=True),
        mask=MASK_LEFT_HOLE,
    )

    # Non-default activations / no bias.
    fx.add(
        "lstm_relu_hard_sigmoid",
        layers.LSTM,
        dict(
            units=u,
            activation="relu",
            recurrent_activation="hard_sigmoid",
            return_sequences=True,
            return_state=True,
        ),
    )
    fx.add(
        "lstm_no_bias",
        layers.LSTM,
        dict(units=u, use_bias=False, return_sequences=True, return_state=True),
    )
    fx.add(
        "simplernn_relu",
        layers.SimpleRNN,
        dict(units=u, activation="relu", return_sequences=True, return_state=True),
    )

    # Bidirectional.
    for merge_mode in ["concat", "sum", "mul", "ave", None]:
        fx.add(
            f"bidir_lstm_{str(merge_mode).lower()}",
            layers.LSTM,
            dict(units=u, return_sequences=True),
            bidirectional={"merge_mode": merge_mode},
        )
    for mask_name, mask in MASKS.items():
        fx.add(
            f"bidir_gru_concat_mask_{mask_name}",
            layers.GRU,
            dict(units=u, return_sequences=True),
            mask=mask,
            bidirectional={"merge_mode": "concat"},
        )
        fx.add(
            f"bidir_simplernn_last_mask_{mask_name}",
            layers.SimpleRNN,
            dict(units=u, return_sequences=False),
            mask=mask,
            bidirectional={"merge_mode": "concat"},
        )
    fx.add(
        "bidir_lstm_state",
        layers.LSTM,
        dict(units=u, return_state=True),
        bidirectional={"merge_mode": "concat"},
    )

    # Stateful.
    fx.add_stateful("lstm_stateful")

    write_npz(OUT_DIR / "layers.npz", fx.arrays)
    with open(OUT_DIR / "layers.json", "w") as f:
        json.dump(fx.meta, f, indent=1, sort_keys=True)
        f.write("\n")
    return fx


# --------------------------------------------------------------------------
# B. whole-model cases
# --------------------------------------------------------------------------
# Inputs shared by the model cases.
_MODEL_RNG = rng_for("models/inputs")
X_FLOAT = _MODEL_RNG.normal(0.0, 1.0, size=(BATCH, 7, FEATURES)).astype("float32")
# Pre-padded token ids, as keras.utils.pad_sequences(padding="pre") makes them.
X_TOKENS = np.array(
    [
        [3, 7, 1, 19, 4, 12],  # no padding
        [0, 0, 5, 2, 18, 9],
        [0, 0, 0, 0, 11, 6],
        [0, 14, 8, 13, 1, 10],
    ],
    dtype="int32",
)


def build_embed_lstm():
    return keras.Sequential(
        [
            keras.Input((6,), dtype="int32"),
            layers.Embedding(20, 5, mask_zero=True),
            layers.LSTM(4),
            layers.Dense(3, activation="softmax"),
        ]
    )


def build_stacked():
    return keras.Sequential(
        [
            keras.Input((7, 3)),
            layers.LSTM(5, return_sequences=True),
            layers.GRU(4),
            layers.Dense(4, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(1),
        ]
    )


def build_bidir_gru():
    return keras.Sequential(
        [
            keras.Input((7, 3)),
            layers.Bidirectional(layers.GRU(4, return_sequences=True), merge_mode="sum"),
            layers.SimpleRNN(3),
            layers.Dense(2),
        ]
    )


def build_gru_reset_before():
    return keras.Sequential(
        [
            keras.Input((7, 3)),
            layers.GRU(4, reset_after=False, go_backwards=True),
            layers.Dense(1),
        ]
    )


def build_timedistributed():
    return keras.Sequential(
        [
            keras.Input((7, 3)),
            layers.SimpleRNN(4, return_sequences=True),
            layers.TimeDistributed(layers.Dense(2)),
        ]
    )


def build_unsupported():
    # rnnlab must refuse this model, naming Conv1D.
    return keras.Sequential(
        [
            keras.Input((7, 3)),
            layers.Conv1D(2, 3),
            layers.LSTM(3),
            layers.Dense(1),
        ]
    )


def build_lstm_compiled():
    # Compiled and trained for a few steps, so that the archive also carries
    # "compile_config" in config.json and optimizer variables under
    # "optimizer/vars" in model.weights.h5, as a user's saved model would.
    return keras.Sequential(
        [
            keras.Input((7, 3)),
            layers.LSTM(4),
            layers.Dense(1),
        ]
    )


def build_summary_lstm_simplernn():
    # Only used for a model.summary() fixture (not saved, no outputs).
    return keras.Sequential(
        [
            keras.Input((3, 1)),
            layers.LSTM(64, return_sequences=True),
            layers.SimpleRNN(64),
            layers.Dense(64, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(1),
        ]
    )


def build_summary_embedding_lstm():
    # Only used for a model.summary() fixture (not saved, no outputs).
    return keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            layers.Embedding(1000, 100),
            layers.LSTM(100),
            layers.Dense(46),
        ]
    )


def write_summary(model, path):
    """Write model.summary() text as printed on a wide (>= 92 column) terminal.

    Keras uses min(88, terminal columns - 4) as the default width of a
    Sequential summary; passing line_length=88 pins it.
    """
    chunks = []
    # rich (used by Keras for the table) crops its output to the console
    # width, which is 80 when stdout is not a terminal; COLUMNS overrides it.
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "120"
    try:
        model.summary(line_length=88, print_fn=chunks.append)
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved
    path.write_text("".join(chunks), encoding="utf-8")


# name -> (builder, input array or None for "no outputs recorded")
MODELS = {
    "embed_lstm": (build_embed_lstm, X_TOKENS),
    "stacked": (build_stacked, X_FLOAT),
    "bidir_gru": (build_bidir_gru, X_FLOAT),
    "gru_reset_before": (build_gru_reset_before, X_FLOAT),
    "timedistributed": (build_timedistributed, X_FLOAT),
    "unsupported": (build_unsupported, None),
    "lstm_compiled": (build_lstm_compiled, X_FLOAT),
}


def make_model_fixtures():
    arrays = {}
    for name, (build, x) in MODELS.items():
        # Fresh session per model: layer names restart at "lstm", "dense", ...
        # as in a user's script, instead of "lstm_17".
        keras.backend.clear_session()
        keras.utils.set_random_seed(1234)
        model = build()
        rng = rng_for(f"models/{name}")
        for layer in model.layers:
            if layer.weights:
                randomize_weights(layer, rng)
        if name == "lstm_compiled":
            model.compile(optimizer="adam", loss="mse")
            y_train = rng.normal(0.0, 1.0, size=(BATCH, 1)).astype("float32")
            model.fit(X_FLOAT, y_train, epochs=2, batch_size=2, verbose=0)
        write_summary(model, OUT_DIR / f"summary_{name}.txt")
        path = OUT_DIR / f"{name}.keras"
        model.save(path)
        normalize_keras_archive(path)
        if x is not None:
            y = model.predict(x, verbose=0)
            # Self-check: the normalized archive loads back and reproduces y.
            reloaded = keras.models.load_model(path)
            np.testing.assert_array_equal(reloaded.predict(x, verbose=0), y)
            arrays[f"{name}/x"] = x
            arrays[f"{name}/y"] = y
    write_npz(OUT_DIR / "models.npz", arrays)

    # Summaries of two larger, unsaved models (parameter-count references).
    for name, build in [
        ("lstm_simplernn", build_summary_lstm_simplernn),
        ("embedding_lstm", build_summary_embedding_lstm),
    ]:
        keras.backend.clear_session()
        write_summary(build(), OUT_DIR / f"summary_{name}.txt")
    return arrays


def main():
    # model.predict() on several models triggers a harmless retracing
    # warning; keep the output quiet.
    tf.get_logger().setLevel("ERROR")
    OUT_DIR.mkdir(parents=True, exist_ok=True)

    fx = make_layer_fixtures()
    make_model_fixtures()
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}")
    print(f"{len(fx.meta)} layer cases, {len(MODELS)} models")
    total = sum(p.stat().st_size for p in OUT_DIR.iterdir())
    print(f"wrote {OUT_DIR.relative_to(ROOT)} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
