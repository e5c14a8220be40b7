"""A ResNet-18 in PyTorch with torchvision's structure and layer names (no weights), and its picture.

torchvision's own ``resnet18`` does not load beside the CPU build of torch used here, so the
network is written out: ``conv1 bn1 relu maxpool``, four ``layer<k>`` stages of two ``BasicBlock``
(``conv1 bn1 relu conv2 bn2`` and a ``downsample`` of a 1x1 convolution and a BatchNorm2d where the
shape changes), ``avgpool`` and ``fc`` — the same module paths as ``torchvision.models.resnet18()``.

``python examples/torch_resnet18.py`` captures one training step on a batch of 8 images at 3x64x64,
prints where batch noise enters (two entries per BatchNorm2d) and writes ``out/resnet18.html``.
"""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and a shortcut (a 1x1 convolution when the shape changes)."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class ResNet18(nn.Module):
    """ResNet-18 (He et al. 2016) as torchvision builds it: 20 convolutions, 20 BatchNorm2d, one Linear."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        widths = (64, 128, 256, 512)
        for k, (inplanes, planes) in enumerate(zip((64, *widths[:-1]), widths), 1):
            stride = 1 if k == 1 else 2
            setattr(self, f"layer{k}", nn.Sequential(BasicBlock(inplanes, planes, stride), BasicBlock(planes, planes)))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def main() -> None:
    import viz

    torch.manual_seed(0)
    model = ResNet18(num_classes=10)
    x, y = torch.randn(8, 3, 64, 64), torch.arange(8) % 10
    g = viz.capture(model, input=x, target=y)
    print(viz.noise_paths(g).summary().splitlines()[0])
    viz.explore(g, "out/resnet18.html", title="ResNet-18: where batch noise enters")
    print("wrote out/resnet18.html")


if __name__ == "__main__":
    main()
