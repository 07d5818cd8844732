"""Plain `nn.Module`s the LightningModules are built from: backbone and head, DCGAN networks, online augmentation."""
