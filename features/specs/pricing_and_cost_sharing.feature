Feature: Pricing and cost sharing
  The plan recognises the lesser of what was billed and its fee schedule (the allowed
  amount); the provider writes off the rest (CO-45). The member then pays the copay
  (PR-3), the deductible on what remains (PR-1), and the coinsurance on what remains after
  that (PR-2), rounded to the cent, half away from zero. The plan pays the rest.
  A procedure missing from the fee schedule is not covered (CO-96). Cases A to F are the
  worked examples of the shared domain reference.

  Background:
    Given the provider "Clinic A" is paid to wallet 0x52908400098527886E0F7030069857D2E4169EE7

  Scenario Outline: Case <example>: <situation>
    Given the plan "Gold PPO" in USD with:
      | deductible        | <deductible>  |
      | coinsurance       | <coinsurance> |
      | out-of-pocket max | 6000.00 USD   |
    And the plan "Gold PPO" allows these procedures:
      | procedure   | category   | allowed per unit |
      | <procedure> | <category> | <fee schedule>   |
    And the plan "Gold PPO" has a copay of <copay> for "<category>"
    And the member "M-1001" is covered by "Gold PPO" from 2026-01-01
    When "Clinic A" submits a claim for member "M-1001" with:
      | procedure   | date of service | units | billed   |
      | <procedure> | 2026-03-02      | 1     | <billed> |
    Then the claim is <decision>
    And the payer pays <payer>
    And the member owes <member>
    And the provider writes off <written off>

    Examples:
      | example | situation                              | deductible | coinsurance | procedure | category     | fee schedule | copay      | billed      | decision | payer       | member     | written off |
      | A       | above the fee schedule, deductible due | 250.00 USD | 20%         | 29881     | surgery      | 1000.00 USD  | 0.00 USD   | 1200.00 USD | approved | 600.00 USD  | 400.00 USD | 200.00 USD  |
      | B       | office visit with a copay              | 0.00 USD   | 0%          | 99213     | office-visit | 120.00 USD   | 25.00 USD  | 180.00 USD  | approved | 95.00 USD   | 25.00 USD  | 60.00 USD   |
      | C       | all of it goes to the deductible       | 500.00 USD | 20%         | 73721     | imaging      | 220.00 USD   | 0.00 USD   | 220.00 USD  | denied   | 0.00 USD    | 220.00 USD | 0.00 USD    |
      | E       | emergency: copay, deductible, 20%      | 500.00 USD | 20%         | 99285     | emergency    | 2000.00 USD  | 150.00 USD | 2000.00 USD | approved | 1080.00 USD | 920.00 USD | 0.00 USD    |
      | F       | coinsurance rounded half up            | 0.00 USD   | 20%         | 99214     | office-visit | 333.33 USD   | 0.00 USD   | 333.33 USD  | approved | 266.66 USD  | 66.67 USD  | 0.00 USD    |
      | B2      | the copay is more than the allowed     | 0.00 USD   | 0%          | 99211     | office-visit | 20.00 USD    | 25.00 USD  | 20.00 USD   | denied   | 0.00 USD    | 20.00 USD  | 0.00 USD    |
      | F2      | the member's coinsurance is 100%       | 0.00 USD   | 100%        | 99214     | office-visit | 333.33 USD   | 0.00 USD   | 333.33 USD  | denied   | 0.00 USD    | 333.33 USD | 0.00 USD    |

  Scenario: Worked example A, line by line
    Given the plan "Gold PPO" in USD with:
      | deductible        | 250.00 USD  |
      | coinsurance       | 20%         |
      | out-of-pocket max | 3000.00 USD |
    And the plan "Gold PPO" allows these procedures:
      | procedure | category | allowed per unit |
      | 29881     | surgery  | 1000.00 USD      |
    And the member "M-1001" is covered by "Gold PPO" from 2026-01-01
    When "Clinic A" submits a claim for member "M-1001" with:
      | procedure | date of service | units | billed      |
      | 29881     | 2026-03-02      | 1     | 1200.00 USD |
    Then line 1 is allowed 1000.00 USD
    And line 1 is paid 600.00 USD
    And line 1 has these adjustments:
      | code  | amount     |
      | CO-45 | 200.00 USD |
      | PR-1  | 250.00 USD |
      | PR-2  | 150.00 USD |
    And member "M-1001" has met 250.00 USD of the 2026 deductible
    And member "M-1001" has paid 400.00 USD out of pocket in 2026

  Scenario: A line billed below the fee schedule is allowed as billed, per unit
    Given the plan "Gold PPO" in USD with:
      | deductible        | 0.00 USD    |
      | coinsurance       | 0%          |
      | out-of-pocket max | 3000.00 USD |
    And the plan "Gold PPO" allows these procedures:
      | procedure | category      | allowed per unit |
      | 97110     | physiotherapy | 80.00 USD        |
    And the member "M-1001" is covered by "Gold PPO" from 2026-01-01
    When "Clinic A" submits a claim for member "M-1001" with:
      | procedure | date of service | units | billed     |
      | 97110     | 2026-03-02      | 3     | 210.00 USD |
    Then the claim is approved
    And line 1 is allowed 210.00 USD
    And the payer pays 210.00 USD
    And the provider writes off 0.00 USD

  Scenario: A procedure missing from the fee schedule is not covered
    Given the plan "Gold PPO" in USD with:
      | deductible        | 0.00 USD    |
      | coinsurance       | 20%         |
      | out-of-pocket max | 3000.00 USD |
    And the plan "Gold PPO" allows these procedures:
      | procedure | category     | allowed per unit |
      | 99213     | office-visit | 120.00 USD       |
    And the member "M-1001" is covered by "Gold PPO" from 2026-01-01
    When "Clinic A" submits a claim for member "M-1001" with:
      | procedure | date of service | units | billed     |
      | 99213     | 2026-03-02      | 1     | 100.00 USD |
      | 90999     | 2026-03-02      | 1     | 450.00 USD |
    Then the claim is approved
    And line 1 is paid 80.00 USD
    And line 2 is not paid, reason CO-96
    And the provider writes off 450.00 USD
