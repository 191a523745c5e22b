"""The usual PyTorch MNIST tutorial pipeline, kept as the yardstick the benchmarks measure against.

    python bench/reference_tutorial.py train --data-dir data --out /tmp/tutorial.pth
    python bench/reference_tutorial.py run --weights /tmp/tutorial.pth --image 'digits/*.png'

Training is pytorch/examples mnist/main.py as most people first meet it: torchvision's
`datasets.MNIST` with a ToTensor + Normalize transform, a shuffling DataLoader (batch 64, test
batch 1000), SGD lr 0.01 momentum 0.5, 3 epochs, seed 42, NLL loss, `torch.save(state_dict)`.
The runner is the script the tutorial's readers write next: import torch and torchvision, load the
state_dict, then for each file of the glob, one at a time, PIL open -> convert('L') ->
resize((28, 28)) -> ToTensor + Normalize -> model -> print `Image is a N`.

It deliberately defines its own Net and uses no mnist_model code: a reference that borrowed the
package's code would not show what the package changed.  Its one liberty: the glob is sorted, so a
benchmark can pair each printed line with its file.
"""
import argparse
import glob
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from PIL import Image
from torchvision import datasets, transforms

SEED = 42
EPOCHS = 3
BATCH_SIZE = 64
TEST_BATCH_SIZE = 1000
LR = 0.01
MOMENTUM = 0.5
LOG_INTERVAL = 10
TRANSFORM = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])


# Kept on purpose beside model_src/mnist_model/network.py (`duplicates` pairs them): the reference must stay
# the tutorial's own code, independent of ours, or it would measure nothing.
class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.conv2_drop = nn.Dropout2d()
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, 10)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
        x = x.view(-1, 320)
        x = F.relu(self.fc1(x))
        x = F.dropout(x, training=self.training)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


def train_epoch(model, train_loader, optimizer, epoch, log):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        if log and batch_idx % LOG_INTERVAL == 0:
            log(f"Train Epoch: {epoch} [{batch_idx * len(data)}/{len(train_loader.dataset)}]\tLoss: {loss.item():.6f}")


def test(model, test_loader):
    """(mean NLL loss, accuracy) on the test set."""
    model.eval()
    test_loss, correct = 0.0, 0
    with torch.no_grad():
        for data, target in test_loader:
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
    return test_loss / len(test_loader.dataset), correct / len(test_loader.dataset)


def train(data_dir, out, epochs=EPOCHS, log=print):
    """Train as the tutorial does and save the state_dict to `out`.

    Returns {"samples", "train_seconds", "samples_per_second", "accuracy", "test_loss"}; the
    seconds count the training epochs only, not building the datasets nor testing.
    """
    torch.manual_seed(SEED)
    train_loader = torch.utils.data.DataLoader(
        datasets.MNIST(str(data_dir), train=True, transform=TRANSFORM), batch_size=BATCH_SIZE, shuffle=True
    )
    test_loader = torch.utils.data.DataLoader(
        datasets.MNIST(str(data_dir), train=False, transform=TRANSFORM), batch_size=TEST_BATCH_SIZE, shuffle=True
    )
    model = Net()
    optimizer = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    seconds = 0.0
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        train_epoch(model, train_loader, optimizer, epoch, log)
        seconds += time.perf_counter() - started
        test_loss, accuracy = test(model, test_loader)
        if log:
            log(f"Test set: Average loss: {test_loss:.4f}, Accuracy: {accuracy * 100:.1f}%")
    torch.save(model.state_dict(), out)
    samples = epochs * len(train_loader.dataset)
    return {"samples": samples, "train_seconds": seconds, "samples_per_second": samples / seconds,
            "accuracy": accuracy, "test_loss": test_loss}


def run(weights, pattern, show=print):
    """Classify each file of the glob, one at a time; returns the digits in (sorted) glob order."""
    model = Net()
    model.load_state_dict(torch.load(weights))
    model.eval()
    digits = []
    for path in sorted(glob.glob(pattern)):
        img = Image.open(path).convert("L").resize((28, 28))
        x = TRANSFORM(img).unsqueeze(0)
        with torch.no_grad():
            output = model(x)
        digit = output.argmax(dim=1).item()
        show(f"Image is a {digit}")
        digits.append(digit)
    return digits


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train_parser = commands.add_parser("train", help="train the tutorial's Net, save its state_dict")
    train_parser.add_argument("--data-dir", default="data")
    train_parser.add_argument("--out", required=True)
    train_parser.add_argument("--epochs", type=int, default=EPOCHS)
    run_parser = commands.add_parser("run", help="the tutorial's runner: one image at a time")
    run_parser.add_argument("--weights", required=True)
    run_parser.add_argument("--image", required=True, help="glob, e.g. 'digits/*.png'")
    args = parser.parse_args(argv)
    if args.command == "train":
        train(args.data_dir, args.out, epochs=args.epochs)
    else:
        run(args.weights, args.image)


if __name__ == "__main__":
    main()
