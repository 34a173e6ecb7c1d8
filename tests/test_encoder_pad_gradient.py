"""The word-embedding row of `pad_token_id` gets no gradient, like PyTorch's `padding_idx`."""

import jax
import jax.numpy as jnp
import numpy as np

from rembert_jax import init_params
from rembert_jax.encoder import apply


def test_pad_row_receives_no_gradient_even_where_pad_is_attended(tiny_config):
    params = init_params(tiny_config, jax.random.key(0))
    ids = jnp.array([[5, tiny_config.pad_token_id, 7, tiny_config.pad_token_id]])  # pads attended

    def loss(p):
        return jnp.sum(apply(p, {"input_ids": ids}, config=tiny_config)["last_hidden_state"] ** 2)

    word_grad = np.asarray(jax.grad(loss)(params)["embeddings"]["word"])
    assert np.all(word_grad[tiny_config.pad_token_id] == 0)
    assert np.any(word_grad[5] != 0) and np.any(word_grad[7] != 0)
