"""Character models: vocabulary, shifted sequences, training, and stateful sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab.layers import GRU, LSTM, Bidirectional, Dense, Embedding
from rnnlab.tasks.charrnn import CharTrainConfig, build_model
from rnnlab.text import CharBatches, Vocabulary, generate, shifted_sequences, stream_loss

TEXT = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 20


def test_vocabulary_round_trip_and_unknown_characters():
    vocab = Vocabulary.from_text(TEXT)
    assert vocab.chars == "".join(sorted(set(TEXT))) and len(vocab) == len(set(TEXT))
    ids = vocab.encode(TEXT)
    assert ids.dtype == np.int64 and vocab.decode(ids) == TEXT
    assert Vocabulary.from_json(vocab.to_json()) == vocab
    assert vocab.unknown("Zebra!Z") == ["Z", "!"]
    with pytest.raises(ValueError, match=r"does not know the character\(s\) 'Z', '!'; it knows"):
        vocab.encode("Zebra!")
    with pytest.raises(ValueError, match="text is empty"):
        Vocabulary.from_text("")
    with pytest.raises(ValueError, match="not an rnnlab vocabulary"):
        Vocabulary.from_json('{"chars": "ab"}')


def test_targets_are_inputs_shifted_by_one():
    ids = np.arange(1000) % 37
    x, y = shifted_sequences(ids, 10, offset=3)
    assert x.shape == y.shape == (99, 10)
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    np.testing.assert_array_equal(x.reshape(-1), ids[3 : 3 + 990])
    np.testing.assert_array_equal(y.reshape(-1), ids[4 : 4 + 990])
    with pytest.raises(ValueError, match="holds no sequence"):
        shifted_sequences(ids[:5], 10)

    batches = CharBatches(ids, 10, batch_size=16)
    seen = [(bx, by) for bx, by in batches]
    assert len(seen) == len(batches) == 7
    xs = torch.cat([bx for bx, _ in seen])
    ys = torch.cat([by for _, by in seen])
    assert len(xs) in (98, 99)  # every sequence of the epoch's cut, once
    torch.testing.assert_close(xs[:, 1:], ys[:, :-1])
    fixed = [bx for bx, _ in CharBatches(ids, 10, 16, shuffle=False)]
    np.testing.assert_array_equal(torch.cat(fixed).numpy(), shifted_sequences(ids, 10)[0])


def tiny_model(cell: str = "lstm", vocab: int = 20, dropout: float = 0.0, units: int = 12) -> rnnlab.Sequential:
    config = CharTrainConfig(text="x", cell=cell, layers=2, units=units, embedding_dim=8, dropout=dropout)
    return build_model(vocab, config)


def test_a_tiny_model_learns():
    vocab = Vocabulary.from_text(TEXT)
    ids = vocab.encode(TEXT)
    model = tiny_model(vocab=len(vocab), units=32)
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        from_logits=True,
        learning_rate=2e-2,
        global_clipnorm=5,
    )
    history = model.fit(CharBatches(ids, 20, 8), epochs=8, verbose=0)
    losses = history.history["loss"]
    assert losses[0] > 2.5 and losses[-1] < 1.5, losses


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_stateful_generation_equals_rereading_the_prefix(cell):
    vocab = Vocabulary.from_text(TEXT)
    model = tiny_model(cell, len(vocab), dropout=0.3)
    model.train()
    greedy = generate(model, vocab, "To be", 40, temperature=0)
    # The same greedy text, each character chosen after re-reading the whole prefix from zero states.
    text = "To be"
    model.eval()
    with torch.no_grad():
        for _ in range(40):
            logits = model(torch.from_numpy(vocab.encode(text))[None])[0, -1]
            text += vocab.chars[int(logits.argmax())]
    assert greedy == text[5:]
    # And the stepped log-probabilities equal the full-sequence ones.
    ids = torch.from_numpy(vocab.encode("To be, or not"))[None]
    with torch.no_grad():
        full = model(ids)[0]
        layers = [m for m in model.modules() if isinstance(m, rnnlab.layers.RNN)]
        for layer in layers:
            layer.stateful = True
        stepped = torch.cat([model(ids[:, t : t + 1])[0] for t in range(ids.shape[1])])
        for layer in layers:
            layer.stateful = False
            layer.reset_states()
    torch.testing.assert_close(stepped, full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_stream_loss_equals_reading_each_stream_whole(cell):
    ids = Vocabulary.from_text(TEXT).encode(TEXT)[:403]
    model = tiny_model(cell, int(ids.max()) + 1, dropout=0.3)
    model.train()
    streams, length = 4, 100  # (403 - 1) // 4 characters each
    x = torch.as_tensor(ids[: streams * length]).view(streams, length)
    with torch.no_grad():
        logits = model(x, training=False).double().numpy()  # each stream in one call, from zero states
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    targets = ids[1 : streams * length + 1].reshape(streams, length)
    expected = -np.take_along_axis(log_p, targets[..., None], -1).mean()
    assert stream_loss(model, ids, seq_length=7, streams=streams) == pytest.approx(expected, rel=1e-5)
    assert model.training and not any(layer.stateful for layer in model.layers if isinstance(layer, rnnlab.layers.RNN))
    with pytest.raises(ValueError, match="more than streams \\(4\\) characters, received seq_length 7 and 4"):
        stream_loss(model, ids[:4], seq_length=7, streams=4)


def test_generate_restores_model_state_and_mode():
    vocab = Vocabulary.from_text(TEXT)
    model = tiny_model(vocab=len(vocab))
    model.train()
    generate(model, vocab, "the", 10, seed=0)
    assert model.training
    assert all(not m.stateful and m.states is None for m in model.modules() if isinstance(m, rnnlab.layers.RNN))


def test_sampling_and_stream_loss_keep_a_stateful_models_carried_states():
    vocab = Vocabulary.from_text(TEXT)
    model = rnnlab.Sequential(
        [Embedding(len(vocab), 4), LSTM(8, return_sequences=True, stateful=True), Dense(len(vocab))]
    )
    model(torch.as_tensor(vocab.encode("To be"))[None])
    carried = [t.clone() for t in model.layers[1].states]
    generate(model, vocab, "the", 10, seed=0)
    stream_loss(model, vocab.encode(TEXT[:200]), 20, streams=1)
    after = model.layers[1].states
    assert model.layers[1].stateful and all(torch.equal(a, b) for a, b in zip(after, carried, strict=True))


def test_temperature_zero_is_greedy_and_seeds_repeat():
    vocab = Vocabulary.from_text(TEXT)
    model = tiny_model(vocab=len(vocab))
    with torch.no_grad():
        model.layers[-1].kernel.mul_(1e3)  # logits far apart: a low temperature then picks the likeliest
    greedy = generate(model, vocab, "the", 60, temperature=0)
    assert generate(model, vocab, "the", 60, temperature=1e-4, seed=3) == greedy
    assert generate(model, vocab, "the", 60, temperature=1e-4, top_k=5, seed=4) == greedy
    one = generate(model, vocab, "the", 60, temperature=1.5, seed=7)
    assert generate(model, vocab, "the", 60, temperature=1.5, seed=7) == one
    assert generate(model, vocab, "the", 60, temperature=1.5, seed=8) != one
    assert generate(model, vocab, "the", 60, temperature=1.0, top_k=1, seed=9) == greedy
    streamed: list[str] = []
    assert generate(model, vocab, "the", 5, seed=1, stream=streamed.append) == "".join(streamed)


def test_generate_with_softmax_outputs_and_bad_arguments():
    vocab = Vocabulary.from_text(TEXT)
    model = rnnlab.Sequential(
        [Embedding(len(vocab), 4, input_shape=(None,)), LSTM(8, return_sequences=True), Dense(len(vocab), "softmax")]
    )
    assert len(generate(model, vocab, "to", 20, temperature=0.7, seed=0)) == 20
    with pytest.raises(ValueError, match="does not know the character"):
        generate(model, vocab, "Zorro", 5)
    with pytest.raises(ValueError, match="at least one character"):
        generate(model, vocab, "", 5)
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        generate(model, vocab, "to", 5, temperature=-1)
    backwards = rnnlab.Sequential(
        [Embedding(len(vocab), 4), Bidirectional(GRU(4, return_sequences=True)), Dense(len(vocab))]
    )
    with pytest.raises(ValueError, match="Bidirectional layer reads the future"):
        generate(backwards, vocab, "to", 5)
