Feature: Eligibility, coverage dates and the provider network
  Care is paid only on days the member is covered (otherwise PR-27) and only to a
  registered provider. A plan with a network pays its own terms in network; outside it,
  either its out-of-network terms or nothing (PR-242, the member owes the line).

  Background:
    Given the plan "Gold PPO" in USD with:
      | deductible        | 0.00 USD    |
      | coinsurance       | 20%         |
      | out-of-pocket max | 9000.00 USD |
    And the plan "Gold PPO" allows these procedures:
      | procedure | category | allowed per unit |
      | 29881     | surgery  | 1000.00 USD      |
    And the member "M-1001" is covered by "Gold PPO" from 2026-01-01
    And the member "M-1002" was covered by "Gold PPO" from 2025-01-01 to 2026-02-28
    And the provider "Clinic A" is paid to wallet 0x52908400098527886E0F7030069857D2E4169EE7
    And the provider "Hospital B" is paid to wallet 0x8617E340B3D01FA5F11F306F4090FD50E238070D
    And the network of "Gold PPO" includes "Clinic A"

  Scenario Outline: Care on <date> for a member covered until 2026-02-28
    When "Clinic A" submits a claim for member "M-1002" with:
      | procedure | date of service | billed      |
      | 29881     | <date>          | 1000.00 USD |
    Then the claim is <decision>
    And the payer pays <payer>
    And the member owes <member>

    Examples:
      | date       | decision | payer      | member      |
      | 2026-02-28 | approved | 800.00 USD | 200.00 USD  |
      | 2026-03-01 | denied   | 0.00 USD   | 1000.00 USD |

  Scenario: Care outside the network is not covered: the member owes it
    When "Hospital B" submits a claim for member "M-1001" with:
      | procedure | date of service | billed      |
      | 29881     | 2026-03-02      | 1000.00 USD |
    Then the claim is denied
    And line 1 is not paid, reason PR-242
    And the member owes 1000.00 USD

  Scenario: Care outside the network is paid at the out-of-network terms
    Given the plan "Gold PPO" covers care outside its network with a deductible of 500.00 USD and 40% coinsurance
    When "Hospital B" submits a claim for member "M-1001" with:
      | procedure | date of service | billed      |
      | 29881     | 2026-03-02      | 1000.00 USD |
    Then the claim is approved
    And the payer pays 300.00 USD
    And line 1 has these adjustments:
      | code | amount     |
      | PR-1 | 500.00 USD |
      | PR-2 | 200.00 USD |

  Scenario: Care in network is paid at the plan's own terms
    When "Clinic A" submits a claim for member "M-1001" with:
      | procedure | date of service | billed      |
      | 29881     | 2026-03-02      | 1000.00 USD |
    Then the payer pays 800.00 USD

  Scenario: A claim from a provider the payer does not know is rejected at intake
    When "Clinic Z" submits a claim for member "M-1001" with:
      | procedure | date of service | billed      |
      | 29881     | 2026-03-02      | 1000.00 USD |
    Then the submission is rejected because "provider clinic-z is not registered"
