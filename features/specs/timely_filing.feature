Feature: Timely filing
  A claim must reach the payer within the plan's filing limit from the date of service.
  Received on the last day is still timely; later, the line is not paid and the provider
  may not bill the member (CO-29). A service at the end of a longer month is due by the end
  of the shorter one.

  Background:
    Given the plan "Gold PPO" in USD with:
      | deductible        | 0.00 USD    |
      | coinsurance       | 0%          |
      | out-of-pocket max | 3000.00 USD |
    And the plan "Gold PPO" allows these procedures:
      | procedure | category     | allowed per unit |
      | 99213     | office-visit | 120.00 USD       |
    And the member "M-1001" is covered by "Gold PPO" from 2024-01-01
    And the provider "Clinic A" is paid to wallet 0x52908400098527886E0F7030069857D2E4169EE7

  Scenario Outline: Worked example K: service on <service>, received on <received>
    Given the plan "Gold PPO" accepts claims within 12 months of the date of service
    When "Clinic A" submits a claim for member "M-1001" received on <received> with:
      | procedure | date of service | billed     |
      | 99213     | <service>       | 120.00 USD |
    Then the claim is <decision>
    And the payer pays <payer>

    Examples:
      | service    | received   | decision | payer      |
      | 2024-01-10 | 2025-01-10 | approved | 120.00 USD |
      | 2024-01-10 | 2025-01-15 | denied   | 0.00 USD   |
      | 2024-02-29 | 2025-02-28 | approved | 120.00 USD |
      | 2024-02-29 | 2025-03-01 | denied   | 0.00 USD   |

  Scenario: A late claim is written off by the provider, reason CO-29
    Given the plan "Gold PPO" accepts claims within 90 days of the date of service
    When "Clinic A" submits a claim for member "M-1001" received on 2026-06-10 with:
      | procedure | date of service | billed     |
      | 99213     | 2026-03-10      | 120.00 USD |
    Then line 1 is not paid, reason CO-29
    And the provider writes off 120.00 USD
    And the member owes 0.00 USD
