Feature: Code-pair edits
  A component procedure billed on the same day as its comprehensive procedure is included
  in the latter's payment and not paid separately (CO-97), unless the pair allows it and
  the line carries a distinct-service modifier (59, XE, XS, XP, XU).

  Background:
    Given the plan "Gold PPO" in USD with:
      | deductible        | 0.00 USD    |
      | coinsurance       | 20%         |
      | out-of-pocket max | 9000.00 USD |
    And the plan "Gold PPO" allows these procedures:
      | procedure | category | allowed per unit |
      | 29881     | surgery  | 1100.00 USD      |
      | 29877     | surgery  | 400.00 USD       |
      | 20610     | surgery  | 400.00 USD       |
    And the plan "Gold PPO" bundles these procedure pairs:
      | paid procedure | bundled procedure | modifier allowed |
      | 29881          | 29877             | yes              |
      | 29881          | 20610             | no               |
    And the member "M-1001" is covered by "Gold PPO" from 2026-01-01
    And the provider "Clinic A" is paid to wallet 0x52908400098527886E0F7030069857D2E4169EE7

  Scenario: Worked example H without a modifier: the second procedure is bundled
    When "Clinic A" submits a claim for member "M-1001" with:
      | procedure | date of service | billed      |
      | 29881     | 2026-03-02      | 1100.00 USD |
      | 29877     | 2026-03-02      | 400.00 USD  |
    Then the claim is approved
    And line 1 is paid 880.00 USD
    And line 2 is not paid, reason CO-97
    And the payer pays 880.00 USD
    And the member owes 220.00 USD

  Scenario Outline: Worked example H with modifier <modifier>: a distinct service is paid
    When "Clinic A" submits a claim for member "M-1001" with:
      | procedure | date of service | billed      | modifiers  |
      | 29881     | 2026-03-02      | 1100.00 USD |            |
      | 29877     | 2026-03-02      | 400.00 USD  | <modifier> |
    Then the payer pays 1200.00 USD
    And the member owes 300.00 USD

    Examples:
      | modifier |
      | 59       |
      | XS       |

  Scenario: A pair that no modifier lets through stays bundled
    When "Clinic A" submits a claim for member "M-1001" with:
      | procedure | date of service | billed      | modifiers |
      | 29881     | 2026-03-02      | 1100.00 USD |           |
      | 20610     | 2026-03-02      | 400.00 USD  | 59        |
    Then line 2 is not paid, reason CO-97

  Scenario: The pair on different days is paid separately
    When "Clinic A" submits a claim for member "M-1001" with:
      | procedure | date of service | billed      |
      | 29881     | 2026-03-02      | 1100.00 USD |
      | 29877     | 2026-03-09      | 400.00 USD  |
    Then the payer pays 1200.00 USD
