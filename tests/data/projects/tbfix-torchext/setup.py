"""Builds tbfix_torchext._C against the torch installed where the build runs."""

from setuptools import setup
from torch.utils.cpp_extension import BuildExtension, CppExtension

setup(
    ext_modules=[CppExtension("tbfix_torchext._C", ["csrc/scale_add.cpp"])],
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
)
