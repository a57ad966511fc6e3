Feature: Deliberately wrong expectations
  These scenarios expect what the engine does not do. The analysts' run checks that each
  fails, and fails with a sentence an analyst can act on (the comment before it).

  Background:
    Given the plan "Gold PPO" in USD with:
      | deductible        | 250.00 USD  |
      | coinsurance       | 20%         |
      | out-of-pocket max | 3000.00 USD |
    And the plan "Gold PPO" allows these procedures:
      | procedure | category | allowed per unit |
      | 29881     | surgery  | 1000.00 USD      |
    And the member "M-1001" is covered by "Gold PPO" from 2026-01-01
    And the provider "Clinic A" is paid to wallet 0x52908400098527886E0F7030069857D2E4169EE7

  # fails with: expected the payer to pay 400.00 USD; the engine paid 600.00 USD: deductible applied 250.00 USD of 250.00 USD remaining
  Scenario: The analyst forgot that coinsurance applies after the deductible
    When "Clinic A" submits a claim for member "M-1001" with:
      | procedure | date of service | units | billed      |
      | 29881     | 2026-03-02      | 1     | 1200.00 USD |
    Then the payer pays 400.00 USD

  # fails with: expected line 1 to be adjusted by CO-45 200.00 USD, PR-1 250.00 USD; the engine adjusted it by CO-45 200.00 USD, PR-1 250.00 USD, PR-2 150.00 USD
  Scenario: The analyst left out the coinsurance adjustment
    When "Clinic A" submits a claim for member "M-1001" with:
      | procedure | date of service | units | billed      |
      | 29881     | 2026-03-02      | 1     | 1200.00 USD |
    Then line 1 has these adjustments:
      | code  | amount     |
      | CO-45 | 200.00 USD |
      | PR-1  | 250.00 USD |

  # fails with: expected "Clinic A" to owe back 0.00 USD; it owes 600.00 USD
  Scenario: The analyst forgot that voiding a paid claim makes the provider owe it back
    Given "Clinic A" submitted a claim for member "M-1001" with:
      | procedure | date of service | billed      |
      | 29881     | 2026-03-02      | 1200.00 USD |
    And the payer settled the approved claims
    When the insurer voids the claim
    Then "Clinic A" owes back 0.00 USD
