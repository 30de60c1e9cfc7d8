import pytest

from steerlab.config import LayersConfig
from steerlab.errors import ConfigError
from steerlab.layers import decoder_layers, find_modules, loss_layer, loss_layers, position, steer_layers


def test_positions_fraction_index_negative():
    assert position(0.5, 30, "k") == 15
    assert position(-3, 30, "k") == 27
    assert position(-0.1, 30, "k") == 27
    assert position(0, 30, "k") == 0
    assert position(29, 30, "k") == 29


@pytest.mark.parametrize("value", [30, -31, 99, 2.5])
def test_out_of_range_names_key(value):
    with pytest.raises(ConfigError, match="layers.start"):
        position(value, 30, "layers.start")


def test_default_range_and_indices():
    assert steer_layers(LayersConfig(), 30) == list(range(9, 24))  # end null: just below the read-out layer 24
    assert loss_layer(LayersConfig(), 30) == 24
    assert steer_layers(LayersConfig(end=-3), 30) == list(range(9, 28))
    assert loss_layers(LayersConfig(loss_layers=[0.5, -2]), 30) == [15, 24, 28]
    with pytest.raises(ConfigError, match="at least 1"):
        loss_layer(LayersConfig(loss=0), 30)
    assert steer_layers(LayersConfig(indices=[0.5, 3, -1]), 10) == [3, 5, 9]
    with pytest.raises(ConfigError, match="after"):
        steer_layers(LayersConfig(start=8, end=2), 10)


def test_layers_found_generically(tiny):
    model, _ = tiny
    layers = decoder_layers(model)
    assert len(layers) == model.config.num_hidden_layers
    assert set(find_modules(layers[0], ["o_proj", "down_proj"])) == {"self_attn.o_proj", "mlp.down_proj"}
    with pytest.raises(ConfigError, match="nope_proj"):
        find_modules(layers[0], ["nope_proj"])
