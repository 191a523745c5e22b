"""The MNIST digit network of the PyTorch tutorial, layer for layer.

The attribute names (conv1, conv2, fc1, fc2) are the state_dict keys, so weights
trained here load in the tutorial's script and the tutorial's weights load here.
Only training sees `dropout` (the tutorial's 0.5 unless a regimen says otherwise).
"""
from torch import nn
from torch.nn import functional as F

# The network expects pixels in 0..1 normalised with MNIST's mean and std.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


def normalise(pixels):
    """uint8 digits [N, 28, 28] (or [N, 1, 28, 28]) -> float [N, 1, 28, 28] as the network expects.

    Here, beside the network, so training, evaluation and the runner share it without importing each other.
    """
    return ((pixels.float() / 255.0 - MNIST_MEAN) / MNIST_STD).view(-1, 1, 28, 28)


class Net(nn.Module):
    def __init__(self, dropout=0.5):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.conv2_drop = nn.Dropout2d(dropout)
        self.dropout = dropout
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, 10)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
        x = x.reshape(-1, 320)  # not view(): training runs channels_last
        x = F.relu(self.fc1(x))
        x = F.dropout(x, p=self.dropout, training=self.training)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)
