export {
  type Authorization,
  createDashboard,
  type Dashboard,
  type DashboardOptions,
} from './handler.js';
