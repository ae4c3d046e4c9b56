export type { DashboardAction } from './layout.js';
export {
  type Authorization,
  createDashboard,
  type Dashboard,
  type DashboardOptions,
} from './handler.js';
