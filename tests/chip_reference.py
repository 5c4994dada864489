"""The one numpy reference of the Akida 1.0 chip in the tests (not a test module).

An independent int64 transcription of docs/akida-v1.md section 5 and the measured rules of its
section 8, with plain loops where that makes it obviously right; it shares no code with the
package (the engine, the compiled ops, the converter are checked against it).
"""
import numpy as np

SAT_MIN, SAT_MAX = -(2 ** 19), 2 ** 19 - 1


def _out_pad(n, k, s, padding):
    if padding == "same":
        out = -(-n // s)
        total = max((out - 1) * s + k - n, 0)
        return out, total // 2, total - total // 2
    return -(-(n - k + 1) // s), 0, 0


def ref_conv(x, kernel, strides, padding, pad_value=0):
    """Cross-correlation of int64 NHWC ``x`` with (kh, kw, C, F) ``kernel``."""
    x = x.astype(np.int64)
    kernel = kernel.astype(np.int64)
    kh, kw = kernel.shape[:2]
    oh, top, bottom = _out_pad(x.shape[1], kh, strides[0], padding)
    ow, left, right = _out_pad(x.shape[2], kw, strides[1], padding)
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=pad_value)
    out = np.zeros((x.shape[0], oh, ow, kernel.shape[3]), np.int64)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, i:i + strides[0] * (oh - 1) + 1:strides[0],
                       j:j + strides[1] * (ow - 1) + 1:strides[1], :]
            out += patch @ kernel[i, j]
    return out


def ref_depthwise(x, kernel, strides, padding):
    """Depthwise cross-correlation of ``x`` with (kh, kw, C) ``kernel``, zero padding."""
    x = x.astype(np.int64)
    kernel = kernel.astype(np.int64)
    kh, kw = kernel.shape[:2]
    oh, top, bottom = _out_pad(x.shape[1], kh, strides[0], padding)
    ow, left, right = _out_pad(x.shape[2], kw, strides[1], padding)
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    out = np.zeros((x.shape[0], oh, ow, x.shape[3]), np.int64)
    for i in range(kh):
        for j in range(kw):
            out += xp[:, i:i + strides[0] * (oh - 1) + 1:strides[0],
                      j:j + strides[1] * (ow - 1) + 1:strides[1], :] * kernel[i, j]
    return out


def ref_maxpool(p, size, stride, padding):
    oh, top, bottom = _out_pad(p.shape[1], size[0], stride[0], padding)
    ow, left, right = _out_pad(p.shape[2], size[1], stride[1], padding)
    low = np.iinfo(np.int64).min
    xp = np.pad(p, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=low)
    out = np.full((p.shape[0], oh, ow, p.shape[3]), low, np.int64)
    for i in range(size[0]):
        for j in range(size[1]):
            out = np.maximum(out, xp[:, i:i + stride[0] * (oh - 1) + 1:stride[0],
                                     j:j + stride[1] * (ow - 1) + 1:stride[1], :])
    return out


def ref_global_sum(p):
    """Row-major sequential sum with a 20-bit saturating accumulator."""
    acc = np.zeros((p.shape[0], p.shape[3]), np.int64)
    for h in range(p.shape[1]):
        for w in range(p.shape[2]):
            acc = np.clip(acc + p[:, h, w, :], SAT_MIN, SAT_MAX)
    return acc[:, None, None, :]


def ref_fire(p, threshold, act_step, bits):
    """Levels: ceil((P - T) / step_eff) clipped to [0, 2**bits - 1], step_eff =
    floor(16 * act_step) / 16 * 2**(4 - bits), all in int64 (16 * (P - T) against the step in
    1/16 units, ceiling as -((-n) // d))."""
    step16 = np.floor(np.asarray(act_step, np.float64) * 16).astype(np.int64) * 2 ** (4 - bits)
    num = 16 * (np.asarray(p, np.int64) - np.asarray(threshold, np.int64))
    return np.clip(-((-num) // step16), 0, 2 ** bits - 1).astype(np.uint8)


def ref_potentials(layer, x):
    """Potentials of one neural layer (after pooling / saturation), int64."""
    p = layer.parameters
    kind = layer.layer_type
    if kind == "FullyConnected":
        flat = x.astype(np.int64).transpose(0, 3, 2, 1).reshape(x.shape[0], -1)
        pot = flat @ layer.get_variable("weights")[0, 0].astype(np.int64)
        return np.clip(pot, SAT_MIN, SAT_MAX)[:, None, None, :]
    padding = p.padding.name.lower()
    if kind == "InputConvolutional":
        pot = ref_conv(x, layer.get_variable("weights"), p.kernel_stride, padding,
                       p.padding_value)
    elif kind == "Convolutional":
        pot = ref_conv(x, layer.get_variable("weights")[::-1, ::-1], p.kernel_stride, padding)
    else:
        depth = ref_depthwise(x, layer.get_variable("weights")[::-1, ::-1, :, 0],
                              p.kernel_stride, padding)
        pot = depth @ layer.get_variable("weights_pw")[0, 0].astype(np.int64)
    if p.pool_type.name == "Max":
        pot = np.clip(ref_maxpool(pot, p.pool_size, p.pool_stride, padding), SAT_MIN, SAT_MAX)
    elif p.pool_type.name == "Average":
        pot = ref_global_sum(pot)
    return pot


def ref_layer(layer, x):
    """Output of one layer: uint8 levels, or int64 potentials without activation."""
    if layer.layer_type == "InputData":
        return x
    pot = ref_potentials(layer, x)
    if not layer.parameters.activation:
        return pot
    return ref_fire(pot, layer.get_variable("threshold"), layer.get_variable("act_step"),
                    layer.parameters.act_bits)


def ref_forward(model, x):
    """Reference forward pass of a whole model (int64 potentials or uint8 levels)."""
    for layer in model.layers:
        x = ref_layer(layer, x)
    return x
