Feature: Corrections: voids, replacements and recoupment of paid claims
  An insurer corrects a claim it sent by voiding it (frequency code 8) or by sending a
  replacement (frequency code 7). Either way the original claim is cancelled and gives back
  everything it used of the member's benefit year (deductible, out-of-pocket, visits, plan
  payments), so later claims, and the replacement itself, are priced as if it had never
  been decided. A replacement is decided on the benefits as they were before the original.
  When the original was already paid, the provider owes the payment back: it is withheld
  from the provider's next payouts (oldest debt first), each claim keeping one cent because
  the contract never pays a claim nothing; whatever a payout cannot cover waits for the next.

  Background:
    Given the plan "Gold PPO" in USD with:
      | deductible        | 250.00 USD  |
      | coinsurance       | 20%         |
      | out-of-pocket max | 3000.00 USD |
    And the plan "Gold PPO" allows these procedures:
      | procedure | category | allowed per unit |
      | 29881     | surgery  | 2000.00 USD      |
    And the member "M-1001" is covered by "Gold PPO" from 2026-01-01
    And the member "M-1002" is covered by "Gold PPO" from 2026-01-01
    And the provider "Clinic A" is paid to wallet 0x52908400098527886E0F7030069857D2E4169EE7

  Scenario: A void of an unpaid claim gives back its deductible and nothing is paid
    Given "Clinic A" holds 0.00 USDC on chain
    And "Clinic A" submitted a claim for member "M-1001" with:
      | procedure | date of service | billed     |
      | 29881     | 2026-03-02      | 750.00 USD |
    When the insurer voids the claim
    And the payer settles the approved claims
    Then the claim is voided
    And member "M-1001" has met 0.00 USD of the 2026 deductible
    And member "M-1001" has paid 0.00 USD out of pocket in 2026
    And "Clinic A" receives 0.00 USDC on chain
    And "Clinic A" owes back 0.00 USD

  Scenario: The claim after a void is priced on the restored deductible
    Given "Clinic A" submitted a claim for member "M-1001" with:
      | procedure | date of service | billed     |
      | 29881     | 2026-03-02      | 750.00 USD |
    When the insurer voids the claim
    And "Clinic A" submits a claim for member "M-1001" with:
      | procedure | date of service | billed     |
      | 29881     | 2026-03-09      | 750.00 USD |
    Then the claim is approved
    And the payer pays 400.00 USD
    And member "M-1001" has met 250.00 USD of the 2026 deductible

  Scenario Outline: A replacement is decided on the benefits as they were before the original
    Given "Clinic A" holds 0.00 USDC on chain
    And "Clinic A" submitted a claim for member "M-1001" with:
      | procedure | date of service | billed     |
      | 29881     | 2026-03-02      | 750.00 USD |
    When "Clinic A" submits a replacement of the claim for member "M-1001" with:
      | procedure   | date of service | billed   |
      | <procedure> | 2026-03-02      | <billed> |
    And the payer settles the approved claims
    Then the claim is <status>
    And the original claim is replaced
    And the payer pays <payer>
    And member "M-1001" has met <deductible> of the 2026 deductible
    And "Clinic A" receives <received> USDC on chain

    Examples:
      | procedure | billed     | status | payer      | deductible | received |
      | 29881     | 900.00 USD | paid   | 520.00 USD | 250.00 USD | 520.00   |
      | 29881     | 200.00 USD | denied | 0.00 USD   | 200.00 USD | 0.00     |
      | 99999     | 900.00 USD | denied | 0.00 USD   | 0.00 USD   | 0.00     |

  Scenario: A paid claim that is replaced is recouped from the replacement's payout
    Given "Clinic A" submitted a claim for member "M-1001" with:
      | procedure | date of service | billed     |
      | 29881     | 2026-03-02      | 750.00 USD |
    And the payer settled the approved claims
    And "Clinic A" holds 400.00 USDC on chain
    When "Clinic A" submits a replacement of the claim for member "M-1001" with:
      | procedure | date of service | billed      |
      | 29881     | 2026-03-02      | 1162.50 USD |
    And the payer settles the approved claims
    Then the original claim is replaced
    And the payer pays 730.00 USD
    And the claim is paid
    And the remittance withholds 400.00 USD from the claim to recover the original claim
    And "Clinic A" receives 330.00 USDC on chain
    And "Clinic A" owes back 0.00 USD
    And the chain and the engine's records agree

  Scenario: A recoupment larger than the next payout leaves a cent paid and the rest owed
    Given "Clinic A" submitted a claim for member "M-1001" with:
      | procedure | date of service | billed     |
      | 29881     | 2026-03-02      | 750.00 USD |
    And the payer settled the approved claims
    And the insurer voided the claim
    And "Clinic A" holds 400.00 USDC on chain
    When "Clinic A" submits a claim for member "M-1002" with:
      | procedure | date of service | billed     |
      | 29881     | 2026-03-10      | 370.00 USD |
    And the payer settles the approved claims
    Then the payer pays 96.00 USD
    And the claim is paid
    And the remittance withholds 95.99 USD from the claim to recover the original claim
    And "Clinic A" receives 0.01 USDC on chain
    And "Clinic A" owes back 304.01 USD
    And the chain and the engine's records agree
