"""bnlab: the experiments, the report and the ``tinygrad-bn`` command.

It sits on top of both ``tinygrad_bn`` and ``viz`` so that the library never imports the visualizer.
"""
