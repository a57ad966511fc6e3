Feature: Deductible and out-of-pocket maximum across claims, for members and families
  A member's claims change each other's results: once the deductible is met it is not
  charged again, and once the member has paid the out-of-pocket maximum in a benefit year
  the plan pays all of the allowed amount. In a family, a member's deductible is met when
  either their own or the family's is met ("embedded"); the same for the out-of-pocket
  maximum.

  Background:
    Given the plan "Family PPO" in USD with:
      | deductible        | 500.00 USD  |
      | coinsurance       | 20%         |
      | out-of-pocket max | 3000.00 USD |
    And the plan "Family PPO" allows these procedures:
      | procedure | category | allowed per unit |
      | 29881     | surgery  | 10000.00 USD     |
    And the plan "Family PPO" has a family deductible of 1000.00 USD
    And the plan "Family PPO" has a family out-of-pocket max of 1500.00 USD
    And the member "M-2001" is covered by "Family PPO" from 2026-01-01
    And the member "M-2001" belongs to the family "Rivera"
    And the member "M-2002" is covered by "Family PPO" from 2026-01-01
    And the member "M-2002" belongs to the family "Rivera"
    And the member "M-2003" is covered by "Family PPO" from 2026-01-01
    And the member "M-2003" belongs to the family "Rivera"
    And the member "M-3001" is covered by "Family PPO" from 2026-01-01
    And the provider "Clinic A" is paid to wallet 0x52908400098527886E0F7030069857D2E4169EE7

  Scenario: Worked example G: the family deductible binds before the member's own
    Given "Clinic A" submitted a claim for member "M-2002" with:
      | procedure | date of service | units | billed     |
      | 29881     | 2026-02-02      | 1     | 500.00 USD |
    And "Clinic A" submitted a claim for member "M-2003" with:
      | procedure | date of service | units | billed     |
      | 29881     | 2026-02-10      | 1     | 400.00 USD |
    When "Clinic A" submits a claim for member "M-2001" with:
      | procedure | date of service | units | billed     |
      | 29881     | 2026-03-02      | 1     | 300.00 USD |
    Then the claim is approved
    And line 1 has these adjustments:
      | code | amount     |
      | PR-1 | 100.00 USD |
      | PR-2 | 40.00 USD  |
    And the member owes 140.00 USD
    And the payer pays 160.00 USD
    And the family "Rivera" has met 1000.00 USD of the 2026 deductible

  Scenario: Early in the year a family member's claim goes to the deductible
    When "Clinic A" submits a claim for member "M-2001" with:
      | procedure | date of service | units | billed     |
      | 29881     | 2026-03-02      | 1     | 300.00 USD |
    Then the claim is denied
    And the member owes 300.00 USD
    And member "M-2001" has met 300.00 USD of the 2026 deductible
    And the family "Rivera" has met 300.00 USD of the 2026 deductible

  Scenario: The family out-of-pocket maximum caps a member below their own
    Given "Clinic A" submitted a claim for member "M-2002" with:
      | procedure | date of service | units | billed      |
      | 29881     | 2026-02-02      | 1     | 5000.00 USD |
    When "Clinic A" submits a claim for member "M-2003" with:
      | procedure | date of service | units | billed      |
      | 29881     | 2026-03-02      | 1     | 1000.00 USD |
    Then the member owes 100.00 USD
    And the payer pays 900.00 USD
    And line 1 has these adjustments:
      | code | amount     |
      | PR-1 | 100.00 USD |

  Scenario: A member outside any family meets only their own deductible
    Given "Clinic A" submitted a claim for member "M-2002" with:
      | procedure | date of service | units | billed     |
      | 29881     | 2026-02-02      | 1     | 500.00 USD |
    When "Clinic A" submits a claim for member "M-3001" with:
      | procedure | date of service | units | billed     |
      | 29881     | 2026-03-02      | 1     | 300.00 USD |
    Then the claim is denied
    And line 1 has these adjustments:
      | code | amount     |
      | PR-1 | 300.00 USD |

  Scenario: Worked example D: the out-of-pocket maximum caps the coinsurance
    Given the plan "Capped PPO" in USD with:
      | deductible        | 0.00 USD    |
      | coinsurance       | 20%         |
      | out-of-pocket max | 1200.00 USD |
    And the plan "Capped PPO" allows these procedures:
      | procedure | category | allowed per unit |
      | 27447     | surgery  | 10000.00 USD     |
    And the member "M-4001" is covered by "Capped PPO" from 2026-01-01
    When "Clinic A" submits a claim for member "M-4001" with:
      | procedure | date of service | units | billed       |
      | 27447     | 2026-03-02      | 1     | 10000.00 USD |
    Then the member owes 1200.00 USD
    And the payer pays 8800.00 USD
    And member "M-4001" has paid 1200.00 USD out of pocket in 2026

  Scenario: Once the out-of-pocket maximum is reached the plan pays everything
    Given the plan "Capped PPO" in USD with:
      | deductible        | 250.00 USD  |
      | coinsurance       | 20%         |
      | out-of-pocket max | 1000.00 USD |
    And the plan "Capped PPO" allows these procedures:
      | procedure | category | allowed per unit |
      | 27447     | surgery  | 10000.00 USD     |
    And the member "M-4001" is covered by "Capped PPO" from 2026-01-01
    And "Clinic A" submitted a claim for member "M-4001" with:
      | procedure | date of service | units | billed      |
      | 27447     | 2026-02-02      | 1     | 3000.00 USD |
    And "Clinic A" submitted a claim for member "M-4001" with:
      | procedure | date of service | units | billed      |
      | 27447     | 2026-02-20      | 1     | 2000.00 USD |
    When "Clinic A" submits a claim for member "M-4001" with:
      | procedure | date of service | units | billed     |
      | 27447     | 2026-03-02      | 1     | 700.00 USD |
    Then the payer pays 700.00 USD
    And the member owes 0.00 USD
    And member "M-4001" has paid 1000.00 USD out of pocket in 2026
    And member "M-4001" has met 250.00 USD of the 2026 deductible
