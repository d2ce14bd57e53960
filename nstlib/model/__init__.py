"""The network: VGG layer names, the feature extractor and its weight sources, the device and precision, and
VGG run tile by tile. Takes plain values (layer names, tensors), never a Config."""
