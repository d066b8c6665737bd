"""Batch augmentations (``disentkit.data.augment``): what each op computes, its randomness, the
per-dataset defaults, bad input, and the ``views`` sampler end to end."""

import colorsys

import numpy as np
import pytest
import torch

import disentkit.data as dd
from disentkit.data import augment as A
from disentkit.data.augment import _kernels as augment_kernels
from disentkit.data.augment import defaults as augment_defaults
from disentkit.data.batch import ViewBatches
from disentkit.data.batch_samplers import build_sampler
from disentkit.data.streams import BatchStream

LUMA = (0.299, 0.587, 0.114)
ALL_OPS = [
    lambda p: A.RandomResizedCrop(p=p),
    lambda p: A.HorizontalFlip(p=p),
    lambda p: A.ColorJitter(0.4, 0.4, 0.2, 0.1, p=p),
    lambda p: A.Grayscale(p=p),
    lambda p: A.GaussianBlur(p=p),
    lambda p: A.Solarize(p=p),
]


@pytest.fixture(autouse=True, params=["compiled", "torch"])
def kernel_path(request, monkeypatch):
    """Every test runs on both paths: the numba kernels (CPU) and the torch ops (other devices)."""
    if request.param == "compiled" and not augment_kernels.HAVE_NUMBA:
        pytest.skip("numba is not installed")
    monkeypatch.setattr(augment_kernels, "USE_COMPILED", request.param == "compiled")
    return request.param


def test_crop_then_flip_in_a_pipeline_equals_the_two_ops():
    x = rand_images(16, 3, 24, 20)
    crop, flip = A.RandomResizedCrop(scale=(0.3, 1.0), p=0.7), A.HorizontalFlip(p=0.5)
    fused = A.Compose([crop, flip])(x, np.random.default_rng(9))
    rng = np.random.default_rng(9)
    pc, pf = crop.sample_params(16, rng, (24, 20)), flip.sample_params(16, rng, (24, 20))
    assert pc["apply"].any() and not pc["apply"].all() and pf["apply"].any() and not pf["apply"].all()
    assert torch.equal(fused, flip.apply(crop.apply(x, pc), pf))


def rand_images(n=6, c=3, h=16, w=16, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).random((n, c, h, w), dtype=np.float32))


# -- randomness: determinism and resumability ---------------------------------------------------
def test_same_seed_same_views_bit_identical():
    x = rand_images(8, 3, 32, 32)
    views = A.build_views("byol", channels=3)
    a = views.views(x, np.random.default_rng(5))
    b = A.build_views("byol", channels=3).views(x, np.random.default_rng(5))
    c = views.views(x, np.random.default_rng(6))
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert not torch.equal(a[0], c[0])
    assert torch.equal(x, rand_images(8, 3, 32, 32))  # the input is never modified


@pytest.mark.parametrize("make", ALL_OPS)
def test_each_op_makes_one_vectorised_draw(make):
    op = make(0.5)
    rng, ref = np.random.default_rng(1), np.random.default_rng(1)
    op.sample_params(7, rng, (16, 16))
    ref.random((7, op.num_uniforms))
    assert rng.bit_generator.state == ref.bit_generator.state


def test_resumed_view_stream_gives_the_same_batches():
    data = dd.get("dsprites")

    def stream():
        return BatchStream(data, batch_size=8, seed=3, batches=ViewBatches(data, A.default_views("dsprites", 1)))

    s = stream()
    for _ in range(3):
        next(s)
    state = s.state_dict()
    expected = [next(s) for _ in range(2)]
    resumed = stream()
    resumed.load_state_dict(state)
    for want, got in zip(expected, [next(resumed) for _ in range(2)]):
        assert len(got.views) == 2
        assert all(torch.equal(a, b) for a, b in zip(want.views, got.views))
        assert torch.equal(want.factors[0], got.factors[0])


# -- p = 0 and p = 1 ----------------------------------------------------------------------------
@pytest.mark.parametrize("make", ALL_OPS)
def test_p0_is_identity_and_p1_always_applies(make):
    x = rand_images()
    assert torch.equal(make(0.0)(x, np.random.default_rng(0)), x)
    params = make(1.0).sample_params(50, np.random.default_rng(0), (16, 16))
    assert params["apply"].all()
    assert not make(1.0)(x, np.random.default_rng(0)).equal(x)


@pytest.mark.parametrize("make", ALL_OPS)
def test_rows_not_applied_are_unchanged_and_layout_is_kept(make):
    x = rand_images(12)
    op = make(0.5)
    apply = op.sample_params(12, np.random.default_rng(4), (16, 16))["apply"]
    assert 0 < apply.sum() < 12
    out = op(x, np.random.default_rng(4))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.equal(out[~torch.from_numpy(apply)], x[~torch.from_numpy(apply)])
    assert 0.0 <= out.min() and out.max() <= 1.0
    cl = op(x.contiguous(memory_format=torch.channels_last), np.random.default_rng(4))
    assert cl.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(cl, out, atol=1e-6)


# -- geometric ops ------------------------------------------------------------------------------
def test_flip_mirrors():
    x = rand_images(4, 1, 8, 8)
    assert torch.equal(A.HorizontalFlip(p=1.0)(x, np.random.default_rng(0)), x.flip(-1))
    op = A.HorizontalFlip(p=0.5)
    apply = op.sample_params(4, np.random.default_rng(2))["apply"]
    out = op(x, np.random.default_rng(2))
    for i in range(4):
        assert torch.equal(out[i], x[i].flip(-1) if apply[i] else x[i])


@pytest.mark.parametrize("scale,ratio,size", [((0.08, 1.0), (3 / 4, 4 / 3), (64, 64)),
                                              ((0.5, 0.9), (0.5, 2.0), (32, 48))])
def test_crop_boxes_stay_in_scale_and_ratio(scale, ratio, size):
    box = A.RandomResizedCrop(scale=scale, ratio=ratio).sample_params(4000, np.random.default_rng(0), size)["box"]
    x0, y0, fw, fh = box.T
    area = fw * fh
    aspect = (fw * size[1]) / (fh * size[0])
    eps = 1e-9
    assert area.min() >= scale[0] - eps and area.max() <= scale[1] + eps
    assert aspect.min() >= ratio[0] - eps and aspect.max() <= ratio[1] + eps
    assert (x0 >= 0).all() and (y0 >= 0).all() and (x0 + fw <= 1 + eps).all() and (y0 + fh <= 1 + eps).all()
    assert area.max() - area.min() > 0.5 * (scale[1] - scale[0])  # the range is actually used


def test_crop_of_a_ramp_is_the_ramp_over_the_box():
    h, w = 12, 20
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    ramp = torch.stack([(xs + 0.5) / w, (ys + 0.5) / h])  # pixel-centre ramps in x and y
    x = ramp.expand(5, 2, h, w).contiguous()
    op = A.RandomResizedCrop(scale=(0.2, 0.6))
    box = op.sample_params(5, np.random.default_rng(3), (h, w))["box"]
    out = op(x, np.random.default_rng(3))
    j = np.arange(w) + 0.5
    i = np.arange(h) + 0.5
    for k, (x0, y0, fw, fh) in enumerate(box):
        # output pixel (i, j) samples the input at x = x0 W + j fw, y = y0 H + i fh (pixel centres at k + 1/2)
        want_x = np.clip(x0 * w + j * fw, 0.5, w - 0.5) / w
        want_y = np.clip(y0 * h + i * fh, 0.5, h - 0.5) / h
        np.testing.assert_allclose(out[k, 0].numpy(), np.broadcast_to(want_x, (h, w)), atol=1e-9)
        np.testing.assert_allclose(out[k, 1].numpy(), np.broadcast_to(want_y[:, None], (h, w)), atol=1e-9)
        assert out[k, 0, 0, -1] - out[k, 0, 0, 0] == pytest.approx((w - 1) * fw / w)  # it spans the box


# -- colour ops ---------------------------------------------------------------------------------
def _reference_jitter(x, params):
    """Per image, per component, in the drawn order: the formulas of ColorJitter's docstring, with
    the hue through ``colorsys``."""
    out = x.numpy().astype(np.float64).copy()
    for n in range(out.shape[0]):
        if not params["apply"][n]:
            continue
        img = out[n]
        for comp in params["order"][n]:
            if comp == 0:
                img = np.clip(params["brightness"][n] * img, 0, 1)
            elif comp == 1:
                c = params["contrast"][n]
                m = np.tensordot(LUMA, img, axes=1).mean()
                img = np.clip(c * img + (1 - c) * m, 0, 1)
            elif comp == 2:
                s = params["saturation"][n]
                img = np.clip(s * img + (1 - s) * np.tensordot(LUMA, img, axes=1), 0, 1)
            else:
                shifted = np.empty_like(img)
                for i in range(img.shape[1]):
                    for j in range(img.shape[2]):
                        hh, ss, vv = colorsys.rgb_to_hsv(*img[:, i, j])
                        shifted[:, i, j] = colorsys.hsv_to_rgb((hh + params["hue"][n]) % 1.0, ss, vv)
                img = np.clip(shifted, 0, 1)
        out[n] = img
    return out


def test_color_jitter_matches_a_per_image_reference():
    x = rand_images(10, 3, 5, 6, seed=1)
    op = A.ColorJitter(0.6, 0.6, 0.6, 0.3, p=0.8)
    params = op.sample_params(10, np.random.default_rng(7))
    assert len({tuple(o) for o in params["order"]}) > 3 and not params["apply"].all()
    out = op(x, np.random.default_rng(7))
    np.testing.assert_allclose(out.numpy(), _reference_jitter(x, params), atol=2e-6)


def test_color_jitter_stays_in_range_and_zero_strength_is_identity():
    x = rand_images(16)
    out = A.ColorJitter(2.0, 2.0, 2.0, 0.5, p=1.0)(x, np.random.default_rng(0))
    assert out.min() >= 0.0 and out.max() <= 1.0 and not torch.equal(out, x)
    assert torch.equal(A.ColorJitter(0.0, 0.0, 0.0, 0.0, p=1.0)(x, np.random.default_rng(0)), x)
    gray = rand_images(8, 1)
    out = A.ColorJitter(0.4, 0.4, 0.0, 0.0, p=1.0)(gray, np.random.default_rng(0))  # 1 channel: b, c only
    assert out.shape == gray.shape and 0.0 <= out.min() and out.max() <= 1.0


def test_hue_shift_matches_colorsys():
    x = rand_images(3, 3, 4, 4, seed=2).double()
    x[0, :, 0, 0] = torch.tensor([0.5, 0.5, 0.5])  # grey: no hue
    x[0, :, 0, 1] = torch.tensor([1.0, 0.0, 0.0])
    shift = torch.tensor([0.1, -0.37, 0.5], dtype=torch.float64)
    out = A.color.shift_hue(x, shift).numpy()
    for n in range(3):
        for i in range(4):
            for j in range(4):
                hh, ss, vv = colorsys.rgb_to_hsv(*x[n, :, i, j].tolist())
                np.testing.assert_allclose(out[n, :, i, j], colorsys.hsv_to_rgb((hh + shift[n].item()) % 1, ss, vv),
                                           atol=1e-12)
    hsv = A.color.rgb_to_hsv(x)
    np.testing.assert_allclose(A.color.hsv_to_rgb(hsv).numpy(), x.numpy(), atol=1e-12)


def test_grayscale_uses_itu_luma_in_every_channel():
    x = rand_images(4)
    out = A.Grayscale(p=1.0)(x, np.random.default_rng(0))
    want = LUMA[0] * x[:, 0] + LUMA[1] * x[:, 1] + LUMA[2] * x[:, 2]
    for c in range(3):
        torch.testing.assert_close(out[:, c], want, atol=1e-6, rtol=0)
    x = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    assert A.Grayscale(p=1.0)(x, 0).flatten().tolist() == pytest.approx([0.299] * 3)


def test_solarize_inverts_at_or_above_the_threshold():
    values = torch.tensor([0.0, 0.25, 0.4999, 0.5, 0.75, 1.0]).view(1, 1, 1, 6)
    out = A.Solarize(threshold=0.5, p=1.0)(values, np.random.default_rng(0))
    assert torch.equal(out.flatten(), torch.tensor([0.0, 0.25, 0.4999, 0.5, 0.25, 0.0]))  # exact
    out = A.Solarize(threshold=0.3, p=1.0)(values, np.random.default_rng(0))
    assert torch.equal(out.flatten(), torch.where(values >= 0.3, 1 - values, values).flatten())


# -- blur ---------------------------------------------------------------------------------------
def test_blur_keeps_a_constant_and_spreads_a_delta_as_a_gaussian():
    const = torch.full((3, 3, 16, 16), 0.37)
    torch.testing.assert_close(A.GaussianBlur(p=1.0)(const, np.random.default_rng(0)), const, atol=1e-6, rtol=0)
    sigma = 1.3
    delta = torch.zeros(1, 1, 21, 21, dtype=torch.float64)
    delta[0, 0, 10, 10] = 1.0
    out = A.GaussianBlur(sigma=(sigma, sigma), kernel_size=7, p=1.0)(delta, np.random.default_rng(0))[0, 0].numpy()
    d = np.arange(-3, 4)
    g = np.exp(-d ** 2 / (2 * sigma ** 2))
    g /= g.sum()
    want = np.zeros((21, 21))
    want[7:14, 7:14] = np.outer(g, g)
    np.testing.assert_allclose(out, want, atol=1e-12)
    assert out.sum() == pytest.approx(1.0)


def test_blur_sigma_and_kernel_size():
    params = A.GaussianBlur(sigma=(0.1, 2.0)).sample_params(1000, np.random.default_rng(0))
    assert 0.1 <= params["sigma"].min() and params["sigma"].max() <= 2.0
    assert A.GaussianBlur().kernel_sizes(64, 224) == (7, 23)  # about a tenth of the side, odd
    x = rand_images(2, 1, 24, 24)
    out = A.GaussianBlur(p=1.0)(x, np.random.default_rng(0))
    assert out.std() < x.std()  # smoother


# -- per-dataset defaults and perturbed factors -------------------------------------------------
def test_dsprites_default_has_no_colour_ops():
    views = A.default_views("dsprites", 1)
    assert views.num_views == 2
    for pipe in views:
        assert [op.name for op in pipe] == ["crop", "blur"]
        assert not any(op.colour_op for op in pipe)
    data = dd.get("dsprites")
    got = A.perturbed_factors(views, data.factor_space.names)
    assert got == {"crop": ["scale", "posX", "posY"], "blur": []}


def test_shapes3d_default_does_not_touch_hue():
    views = A.default_views("shapes3d", 3)
    for pipe in views:
        names = [op.name for op in pipe]
        assert "grayscale" not in names and "solarize" not in names and "flip" not in names
        jitter = [op for op in pipe if op.name == "color_jitter"]
        assert len(jitter) == 1 and jitter[0].hue == 0.0 and "hue" not in jitter[0].perturbs
    names = dd.get("shapes3d").factor_space.names
    assert A.perturbed_factors(views, names) == {"crop": ["scale"], "color_jitter": [], "blur": []}
    assert "no hue jitter" in augment_defaults.__doc__  # the choice is documented


def test_perturbed_factors_names_what_each_op_touches():
    byol = A.build_views("byol", 3)
    got = A.perturbed_factors(byol, ("shape", "scale", "orientation", "posX", "posY"))
    assert got == {"crop": ["scale", "posX", "posY"], "flip": ["orientation", "posX"], "color_jitter": [],
                   "grayscale": [], "blur": [], "solarize": []}
    hues = ("floor_hue", "wall_hue", "object_hue", "scale")
    got = A.perturbed_factors(byol, hues)
    assert got["color_jitter"] == got["grayscale"] == got["solarize"] == ["floor_hue", "wall_hue", "object_hue"]
    assert A.perturbed_factors([A.Solarize(p=0.0)], hues) == {}  # p = 0 never applies


def test_unknown_dataset_gets_byol_adapted_to_channels():
    assert A.default_views("some_new_data", 3).to_dict() == A.build_views("byol", 3).to_dict()
    gray = A.default_views("some_new_data", 1)
    for pipe in gray:
        assert "grayscale" not in [op.name for op in pipe]
        for op in pipe:
            op.check_channels(1)


# -- bad input ----------------------------------------------------------------------------------
def test_unknown_augmentation_names_the_valid_choices():
    with pytest.raises(ValueError, match="unknown augmentation 'rotate'; valid names: crop, flip, color_jitter, "
                                         "grayscale, blur, solarize"):
        A.build_augmentation("rotate")
    with pytest.raises(ValueError, match="unknown view preset 'moco'; valid presets: byol, simclr, none"):
        A.build_views("moco")
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['sigma'\] for augmentation 'crop'"):
        A.build_views([[{"name": "crop", "sigma": 1}]])


def test_colour_op_on_one_channel_names_the_op_and_channels():
    with pytest.raises(ValueError, match=r"view 1: Grayscale\(p=0.2\) needs 3-channel \(RGB\) images, got channels=1"):
        A.build_views([["grayscale"]], channels=1)
    with pytest.raises(ValueError, match=r"ColorJitter\(.*\) needs 3-channel .* got channels=1"):
        A.build_views("byol", channels=1)
    with pytest.raises(ValueError, match="needs 3-channel"):
        A.ColorJitter(hue=0.1)(rand_images(2, 1), np.random.default_rng(0))


@pytest.mark.parametrize("build", [
    lambda: A.RandomResizedCrop(scale=(0.0, 1.0)),
    lambda: A.RandomResizedCrop(scale=(0.5, 1.5)),
    lambda: A.RandomResizedCrop(scale=(0.9, 0.5)),
    lambda: A.RandomResizedCrop(ratio=(0.0, 1.0)),
    lambda: A.HorizontalFlip(p=1.5),
    lambda: A.Grayscale(p=-0.1),
    lambda: A.Solarize(threshold=2.0),
    lambda: A.ColorJitter(hue=0.6),
    lambda: A.ColorJitter(brightness=-1.0),
    lambda: A.GaussianBlur(sigma=(0.0, 1.0)),
    lambda: A.GaussianBlur(kernel_size=4),
])
def test_bad_parameters_raise(build):
    with pytest.raises(ValueError):
        build()


def test_bad_images_raise():
    with pytest.raises(ValueError, match=r"shape \(B, C, H, W\)"):
        A.HorizontalFlip()(torch.rand(3, 8, 8), 0)
    with pytest.raises(ValueError, match="must be float"):
        A.HorizontalFlip()(torch.zeros(1, 1, 8, 8, dtype=torch.uint8), 0)


def test_specs_round_trip():
    for spec in ("byol", "simclr", "none"):
        views = A.build_views(spec, channels=3)
        assert A.build_views(views.to_dict(), channels=3).to_dict() == views.to_dict()
    assert repr(A.HorizontalFlip(p=0.5)) == "HorizontalFlip(p=0.5)"


# -- the views sampler end to end ---------------------------------------------------------------
def test_views_sampler_draws_two_augmented_views():
    data = dd.get("dsprites")
    sampler = build_sampler("views", {"augmentations": "default"}, data, "dsprites")
    batch = sampler.draw(8, np.random.default_rng(0))
    assert batch.kind == "views" and len(batch.views) == 2
    for view in batch.views:
        assert tuple(view.shape) == (8, *data.observation_shape)
        assert 0.0 <= float(view.min()) and float(view.max()) <= 1.0
    assert not torch.equal(batch.views[0], batch.views[1])
    assert np.array_equal(batch.factors[0], batch.factors[1])
    again = build_sampler("views", {"augmentations": "default"}, data, "dsprites").draw(8, np.random.default_rng(0))
    assert all(torch.equal(a, b) for a, b in zip(batch.views, again.views))
    with pytest.raises(ValueError, match="needs 3-channel"):
        build_sampler("views", {"augmentations": "byol"}, data, "dsprites")
