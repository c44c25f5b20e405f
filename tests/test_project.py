import astra
import numpy as np
import pytest

from tomoinpaint.geometry import Geometry, tilt_range
from tomoinpaint.project import Projector, cuda_available, forward_project, resolve_device


@pytest.mark.parametrize("kernel", ["linear", "strip", "line"])
def test_adjointness_dot_test(kernel):
    g = Geometry(tilt_range(-70, 50, 1.7), 48)
    rng = np.random.default_rng(1)
    x = rng.random((48, 48)).astype(np.float32)
    y = rng.random(g.sino_shape).astype(np.float32)
    with Projector(g, kernel=kernel, device="cpu") as P:
        lhs = float(np.vdot(P.forward(x).astype(np.float64), y))
        rhs = float(np.vdot(x.astype(np.float64), P.back(y)))
    assert lhs == pytest.approx(rhs, rel=1e-4)


def test_line_integrals_in_pixel_units():
    n = 64
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    disk = (xx**2 + yy**2 < 20**2).astype(np.float32)
    sino = forward_project(disk, tilt_range(0, 170, 10), kernel="strip", device="cpu")
    np.testing.assert_allclose(sino.sum(axis=1), disk.sum(), rtol=1e-4)  # mass conserved
    assert sino.max() == pytest.approx(40, rel=0.02)  # chord through the centre


def test_supersampled_projection_matches_coarse_units():
    n = 32
    fine = np.ones((2 * n, 2 * n), np.float32)
    angles = [0.0, 90.0]
    s_fine = forward_project(fine, angles, kernel="strip", supersample=2, device="cpu")
    s_coarse = forward_project(np.ones((n, n), np.float32), angles, kernel="strip", device="cpu")
    np.testing.assert_allclose(s_fine, s_coarse, rtol=1e-4)


def test_projector_frees_astra_objects():
    g = Geometry(tilt_range(-60, 60, 3), 32)
    ids = []
    for _ in range(50):
        with Projector(g, device="cpu") as P:
            P.forward(np.ones((32, 32), np.float32))
            ids += [P.vol_id, P.sino_id, P.new_volume_id()]
    for did in ids:  # every data object of every closed projector is gone
        with pytest.raises(Exception, match="not found"):
            astra.data2d.get(did)


def test_shape_errors():
    g = Geometry(tilt_range(-60, 60, 3), 32)
    with Projector(g, device="cpu") as P:
        with pytest.raises(ValueError, match="shape"):
            P.forward(np.ones((31, 32)))
        with pytest.raises(ValueError, match="shape"):
            P.back(np.ones((3, 32)))
    with pytest.raises(ValueError, match="kernel"):
        Projector(g, kernel="bogus")


def test_device_choice():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
    if not cuda_available():
        with pytest.raises(ValueError, match="no usable CUDA"):
            resolve_device("cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason="needs a CUDA GPU")
def test_cuda_projection_matches_cpu():
    n = 64
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    disk = (xx**2 + yy**2 < 20**2).astype(np.float32)
    angles = tilt_range(-60, 60, 2)
    cpu = forward_project(disk, angles, kernel="linear", device="cpu")
    gpu = forward_project(disk, angles, kernel="linear", device="cuda")
    assert np.abs(cpu - gpu).max() < 0.05 * cpu.max()


@pytest.mark.parametrize(
    ("kernel", "rows"), [("linear", None), ("strip", None), ("linear", (9, 23))]
)
def test_matrix_projector_is_astras_projector_on_stacks(kernel, rows):
    """The sparse matrix is ASTRA's own CPU operator: stacks project as slice by slice,
    of a slab of rows too."""
    from tomoinpaint.project import open_projector

    g = Geometry(tilt_range(-70, 50, 1.7), 40)
    plane = (40, 40) if rows is None else (rows[1] - rows[0], 40)
    rng = np.random.default_rng(2)
    x = rng.random((3, *plane)).astype(np.float32)
    y = rng.random((2, 3) + g.sino_shape).astype(np.float32)
    with (
        Projector(g, kernel=kernel, device="cpu", rows=rows) as P,
        open_projector(g, kernel=kernel, device="cpu", backend="matrix", rows=rows) as M,
    ):
        assert M.vol_shape == plane
        fwd = M.forward(x)
        assert fwd.shape == (3,) + g.sino_shape and fwd.dtype == np.float32
        np.testing.assert_allclose(fwd, P.forward(x), rtol=0, atol=1e-5 * np.abs(fwd).max())
        for k in range(3):  # the stack is the slices, each alone
            np.testing.assert_array_equal(M.forward(x[k]), fwd[k])
        back = M.back(y)
        assert back.shape == (2, 3, *plane)
        np.testing.assert_allclose(back, P.back(y), rtol=0, atol=1e-5 * np.abs(back).max())
        lhs = float(np.vdot(M.forward(x[0]).astype(np.float64), y[0, 0]))
        rhs = float(np.vdot(x[0].astype(np.float64), M.back(y[0, 0])))
        assert lhs == pytest.approx(rhs, rel=1e-5)


def test_open_projector_choices():
    from tomoinpaint.project import MatrixProjector, open_projector

    g = Geometry(tilt_range(-60, 60, 3.0), 32)
    with open_projector(g, device="cpu") as P:
        assert isinstance(P, MatrixProjector)  # small enough: the matrix on the CPU
    with open_projector(g, device="cpu", backend="astra") as P:
        assert isinstance(P, Projector)
    with pytest.raises(ValueError, match="unknown projector backend 'gpu'"):
        open_projector(g, backend="gpu")
    with pytest.raises(ValueError, match="3D stack projector needs CUDA"):
        open_projector(g, device="cpu", backend="astra3d")


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason="needs a CUDA GPU")
def test_cuda_stack_projector_matches_cpu_and_is_adjoint():
    """ASTRA 3D on a stack: the CPU projector's sinograms, slice for slice, and A^T."""
    from tomoinpaint.project import StackProjector3D, open_projector, stack_projector_orientation

    assert stack_projector_orientation() is not None, "3D CUDA projector disagrees with 2D"
    g = Geometry(tilt_range(-70, 50, 1.7), 48)
    rng = np.random.default_rng(4)
    x = rng.random((5, 48, 48)).astype(np.float32)
    y = rng.random((5, *g.sino_shape)).astype(np.float32)
    with open_projector(g, device="cuda") as S, Projector(g, device="cpu") as C:
        assert isinstance(S, StackProjector3D) and S.stack > 1
        fp, ref = S.forward(x), C.forward(x)
        assert np.abs(fp - ref).max() < 0.05 * ref.max()
        lhs = float(np.vdot(fp.astype(np.float64), y))
        rhs = float(np.vdot(x.astype(np.float64), S.back(y)))
        assert lhs == pytest.approx(rhs, rel=0.02)


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason="needs a CUDA GPU")
def test_tv_on_the_cuda_stack_projector_matches_the_cpu_matrix():
    from tomoinpaint.recon import tv

    g = Geometry(tilt_range(-60, 60, 2.0), 48)
    yy, xx = np.mgrid[:48, :48] - 23.5
    disks = np.stack([(xx**2 + yy**2 < r**2).astype(np.float32) for r in (8, 12, 16)])
    sino = forward_project(disks, g.angles_deg, kernel="linear", device="cpu")
    cpu = tv(sino, g.angles_deg, iterations=200, backend="matrix", device="cpu")
    gpu = tv(sino, g.angles_deg, iterations=200, backend="astra3d", device="cuda")
    assert np.abs(gpu - cpu).max() < 0.05 * cpu.max()


def test_matrix_results_do_not_depend_on_the_thread_count(monkeypatch):
    """The blocks are fixed and summed in order: 1 or 3 threads give the same bits."""
    import tomoinpaint.project as project

    g = Geometry(tilt_range(-60, 60, 2.0), 40)
    y = np.random.default_rng(3).random((5,) + g.sino_shape).astype(np.float32)
    outs = []
    for threads in ("1", "3"):
        monkeypatch.setenv("TOMOINPAINT_THREADS", threads)
        monkeypatch.setattr(project, "_POOL", None)
        with project.open_projector(g, device="cpu", backend="matrix") as M:
            assert len(M.blocks) == project.MATRIX_BLOCKS
            outs.append((M.back(y), M.forward(M.back(y))))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])


def test_column_major_copy_gives_the_same_bits_and_needs_room_for_two(monkeypatch):
    """The forward products' column-major copy changes nothing but speed, and is made
    only where two copies fit in a quarter of the available memory."""
    import tomoinpaint.project as project

    g = Geometry(tilt_range(-60, 60, 2.0), 40)
    x = np.random.default_rng(4).random((9, 40, 40)).astype(np.float32)
    need = project.matrix_bytes_estimate(g.angles_deg.size, g.n_det)
    monkeypatch.setattr(project, "available_memory", lambda: 8 * need)
    with project.open_projector(g, device="cpu") as both:
        assert both.forward_blocks is not both.blocks
        assert all(b.format == "csc" for b in both.forward_blocks)
        fast = both.forward(x)
    monkeypatch.setattr(project, "available_memory", lambda: 6 * need)  # room for one only
    with project.open_projector(g, device="cpu") as one:
        assert one.forward_blocks is one.blocks
        np.testing.assert_array_equal(one.forward(x), fast)
        np.testing.assert_array_equal(one.forward(x[4]), fast[4])


def test_matrix_memory_is_shared_out_between_local_workers_and_a_slab_needs_less(monkeypatch):
    """Each of k local worker processes may give its matrices a k-th of the quarter of the
    memory; a slab's matrix is that much smaller, so it fits where the whole slice's does not."""
    import signal

    import tomoinpaint.project as project
    from tomoinpaint.volume.tasks import init_worker_process

    g = Geometry(tilt_range(-60, 60, 2.0), 40)
    need = project.matrix_bytes_estimate(g.angles_deg.size, g.n_det)
    monkeypatch.setattr(project, "available_memory", lambda: 8 * need)
    monkeypatch.delenv("TOMOINPAINT_WORKERS", raising=False)
    assert project._matrix_copies_that_fit(g) == 2
    monkeypatch.setenv("TOMOINPAINT_WORKERS", "2")
    assert project._matrix_copies_that_fit(g) == 1
    monkeypatch.setenv("TOMOINPAINT_WORKERS", "3")
    with project.open_projector(g, device="cpu") as P:
        assert P.backend == "astra"
    with project.open_projector(g, device="cpu", rows=(10, 20)) as S:  # a quarter of the rows
        assert S.backend == "matrix" and S.vol_shape == (10, 40)
    monkeypatch.delenv("TOMOINPAINT_WORKERS")
    monkeypatch.setattr(project, "MATRIX_MAX_BYTES", need // 2)  # over the cap: ASTRA
    with project.open_projector(g, device="cpu") as P:
        assert P.backend == "astra"
    with project.open_projector(g, device="cpu", rows=(10, 20)) as S:
        assert S.backend == "matrix"
    sigint = signal.getsignal(signal.SIGINT)
    try:
        init_worker_process(workers=4)  # what the volume pipeline's worker processes run
    finally:
        signal.signal(signal.SIGINT, sigint)
    assert project.matrix_memory_share() == 4


def test_matrix_cache_keeps_the_recent_geometries_within_its_byte_budget(monkeypatch):
    """Matrices of many geometries in turn (auto's hold-out scoring) stay within
    MATRIX_CACHE_BYTES, the least recently used going first; a hit returns the same blocks."""
    import tomoinpaint.project as project

    project.projection_blocks.cache_clear()
    key = tuple(tilt_range(-60, 60, 2.0).tolist())
    first = project.projection_blocks(key, 40, "linear", 2)
    assert project.projection_blocks(key, 40, "linear", 2, None) is first  # defaults: one entry
    size = sum(b.data.nbytes + b.indices.nbytes + b.indptr.nbytes for b in first)
    monkeypatch.setattr(project, "MATRIX_CACHE_BYTES", int(2.5 * size))
    monkeypatch.setattr(project, "available_memory", lambda: None)
    second = project.projection_blocks(key[1:], 40, "linear", 2)
    assert project.projection_blocks(key, 40, "linear", 2) is first  # now the most recent
    project.projection_blocks(key[2:], 40, "linear", 2)  # over budget: `second` goes
    assert project.projection_blocks(key, 40, "linear", 2) is first
    assert project.projection_blocks(key[1:], 40, "linear", 2) is not second
    assert len(project._MATRIX_CACHE) == 2
    # within the budget, the cached matrices keep to a quarter of the memory they leave
    monkeypatch.setattr(project, "MATRIX_CACHE_BYTES", 100 * size)
    monkeypatch.setattr(project, "available_memory", lambda: 6 * size)
    project.projection_blocks(key[3:], 40, "linear", 2)  # 3 cached: (6 + 3) / 4 > 2 only
    assert len(project._MATRIX_CACHE) == 2
    project.projection_blocks.cache_clear()


def test_matrix_room_keeps_within_a_distributed_workers_memory_limit():
    """On a dask.distributed worker the matrices keep to a quarter of what its memory
    limit leaves (its nanny restarts it past the limit, whatever the machine has free)."""
    import psutil
    from distributed import Client, LocalCluster

    from tomoinpaint import project
    from tomoinpaint.memory import worker_memory_left

    assert worker_memory_left() is None  # not in a worker
    limit = psutil.Process().memory_info().rss + (2 << 30)

    def in_worker():
        return worker_memory_left(), project.matrix_memory_room()

    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=False,
            memory_limit=limit,
            dashboard_address=None,
        ) as cluster,  # fmt: skip
        Client(cluster) as client,
    ):
        left, room = client.submit(in_worker).result()
    assert (1 << 30) < left <= (2 << 30) + (256 << 20)
    assert room <= left // 4 + 1
