"""What a quote says about money, whatever is quoted (prediction rows, a training)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class PriceQuote:
    cost: int
    balance: int

    @property
    def balance_after(self) -> int:
        return self.balance - self.cost

    @property
    def affordable(self) -> bool:
        return self.balance_after >= 0

    @property
    def shortfall(self) -> int:
        return max(0, -self.balance_after)
