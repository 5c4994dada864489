"""Build script: package metadata lives in setup.cfg; this file compiles custom_ops/.

The custom TensorFlow ops are compiled against the TensorFlow installed in the build
environment, so install with ``pip install --no-build-isolation`` after TensorFlow is in
(``make test`` and ``make demo`` do this in order).
"""
import glob
import os

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
OP_SOURCES = sorted(glob.glob(os.path.join("custom_ops", "*.cc")))
# Headers and included kernel bodies: a change to any of them must rebuild the library.
OP_DEPENDS = sorted(glob.glob(os.path.join("custom_ops", "*.h"))
                    + glob.glob(os.path.join("custom_ops", "*.inc")))


class TensorFlowBuildExt(build_ext):
    """Compiles the op library with the flags of the installed TensorFlow."""

    def build_extensions(self):
        try:
            import tensorflow as tf
        except ImportError as err:  # pragma: no cover - a packaging error, explained
            raise RuntimeError(
                "Building cnn2snn_tfmot's custom ops needs TensorFlow installed first: run "
                "`pip install -r requirements-build.txt`, then "
                "`pip install --no-build-isolation -e .`") from err
        compile_flags = tf.sysconfig.get_compile_flags() + [
            "-std=c++17", "-D_GLIBCXX_USE_CXX11_ABI=1", "-Wno-deprecated-declarations",
            "-O3", "-fPIC", "-DNDEBUG",
            # Silences a warning TensorFlow's own Eigen headers raise in every file (GCC >= 12).
            "-Wno-interference-size",
            # Python's CFLAGS add -g: debug info of the TF headers makes an 8 MB library.
            "-g0"]
        if os.environ.get("CNN2SNN_TFMOT_NATIVE", "0") == "1":
            # Opt-in: binaries built this way only run on CPUs like the build machine's.
            compile_flags.append("-march=native")
        link_flags = tf.sysconfig.get_link_flags()
        # distutils compiles C++ with the C driver; drop the C-only flag it adds.
        self.compiler.compiler_so = [f for f in self.compiler.compiler_so
                                     if f != "-Wstrict-prototypes"]
        for ext in self.extensions:
            ext.extra_compile_args = compile_flags
            ext.extra_link_args = link_flags
        super().build_extensions()

    def get_export_symbols(self, ext):
        # A TensorFlow op library is loaded with tf.load_op_library, not imported:
        # it has no PyInit_ symbol to export.
        return []


ext_modules = []
if OP_SOURCES:
    ext_modules.append(Extension(
        "cnn2snn_tfmot.engine._akida_ops",
        sources=OP_SOURCES,
        depends=OP_DEPENDS,
        include_dirs=[os.path.join(HERE, "custom_ops")],
        language="c++"))

setup(ext_modules=ext_modules, cmdclass={"build_ext": TensorFlowBuildExt})
